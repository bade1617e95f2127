"""Hostile and malformed input to ``/v1/responses`` and ``/v1/agui``: every one is a clear 4xx
in the protocol's error shape, never a 500 and never a run."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Hosted

GOOD_AGUI: dict[str, Any] = {
    "threadId": "t",
    "runId": "r",
    "messages": [{"id": "m", "role": "user", "content": "hi"}],
    "forwardedProps": {"model": "echo/echo-1"},
}

RESPONSES_BODIES: list[Any] = [
    [],
    "text",
    {},
    {"model": 5, "input": "hi"},
    {"model": "echo/echo-1"},
    {"model": "echo/echo-1", "input": ""},
    {"model": "echo/echo-1", "input": [{"role": "assistant", "content": "x"}]},
    {"model": "echo/echo-1", "input": [{"type": "function_call_output", "output": "x"}]},
    {"model": "echo/echo-1", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
    {"model": "echo/echo-1", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
    {"model": "echo/echo-1", "input": "hi", "temperature": 5},
    {"model": "echo/echo-1", "input": "hi", "max_output_tokens": 0},
    {"model": "scripted/s-1", "input": "hi", "temperature": 0.2},  # it has no temperature
    {"model": "echo/echo-1", "input": "hi", "store": False},
    {"model": "echo/echo-1", "input": "hi", "tool_choice": "required"},
    {"model": "echo/echo-1", "input": "hi", "tools": "lookup"},
    {"model": "echo/echo-1", "input": "hi", "tools": [{"type": "web_search"}]},
    {"model": "echo/echo-1", "input": "hi", "previous_response_id": "resp_!!"},
    {"model": "echo/echo-1", "input": "hi", "previous_response_id": "resp_" + "A" * 900},
    {"model": "echo/echo-1", "input": "hi", "stream": "yes"},
    {"model": "echo/echo-1", "input": "hi", "user": 7},
    {"model": "echo/echo-1", "input": "hi", "user": "\x00"},
    {"model": "echo/echo-1", "input": "hi", "metadata": {"a": 1}},
    {"model": "echo/echo-1", "input": "hi", "instructions": ["x"]},
]

AGUI_BODIES: list[Any] = [
    [],
    {},
    {**GOOD_AGUI, "threadId": 5},
    {**GOOD_AGUI, "threadId": "x" * 200},
    {**GOOD_AGUI, "runId": None},
    {**GOOD_AGUI, "messages": "hi"},
    {**GOOD_AGUI, "messages": [1]},
    {**GOOD_AGUI, "messages": [{"role": "user", "content": 5}]},
    {**GOOD_AGUI, "messages": [{"role": "user", "content": [{"type": "binary"}]}]},
    {**GOOD_AGUI, "forwardedProps": "echo"},
    {**GOOD_AGUI, "forwardedProps": {"model": "echo"}},
    {**GOOD_AGUI, "forwardedProps": {"model": "echo/echo-1", "endUserId": "\x00"}},
    {**GOOD_AGUI, "forwardedProps": {"model": "echo/echo-1", "endUserId": 9}},
    {**GOOD_AGUI, "forwardedProps": {"model": "echo/echo-1", "onDisconnect": "explode"}},
    {**GOOD_AGUI, "forwardedProps": {"model": "echo/echo-1", "system": 1}},
    {**GOOD_AGUI, "context": "x"},
    {**GOOD_AGUI, "context": [1]},
    {**GOOD_AGUI, "tools": [{"name": "shell"}]},
]


@pytest.mark.parametrize("body", RESPONSES_BODIES)
async def test_a_bad_responses_request_is_a_400_in_the_responses_shape(
    hosted: Hosted, body: Any
) -> None:
    async with hosted.http() as http:
        answer = await http.post("/v1/responses", json=body)
    assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] and error["message"] and error["type"].endswith("_error")
    assert not hosted.state.runs


@pytest.mark.parametrize("body", AGUI_BODIES)
async def test_a_bad_agui_request_is_a_problem(hosted: Hosted, body: Any) -> None:
    async with hosted.http() as http:
        answer = await http.post("/v1/agui", json=body)
    assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert not hosted.state.runs


@pytest.mark.parametrize("query", ["user=%00", "user=" + "x" * 300, "stream=true&starting_after=x"])
async def test_reading_a_response_with_bad_parameters_is_a_4xx(hosted: Hosted, query: str) -> None:
    async with hosted.http() as http:
        made = await http.post("/v1/responses", json={"model": "echo/echo-1", "input": "hi"})
        answer = await http.get(f"/v1/responses/{made.json()['id']}?{query}")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["code"]
