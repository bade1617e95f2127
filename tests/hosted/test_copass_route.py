"""Copass's agent-run endpoint, driven by Copass's own Python client (``copass-agent-router``,
its ``AgentRouter.run``) against a real hosted router on loopback, with the echo provider.

Copass's client 1.4.9 sends no ``Authorization`` header on a run: it reads
``client._auth_provider``, which its ``CopassClient`` never sets. Unchanged, it therefore runs
against a keyless router (loopback only), and against one with API keys it gets the 401 in
Copass's error shape; given the attribute its code reads, it sends the key as a bearer token.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from copass_agent_router import (
    AgentFinish,
    AgentRouter,
    AgentTextDelta,
    AgentToolCall,
    AgentToolResult,
    RunAgentOptions,
)
from copass_core.auth.api_key import ApiKeyAuthProvider
from copass_core.client import ApiKeyAuth

from copass_router import Message, Router, TextDelta, ThinkingDelta, tool

from ..harness import HostedRouter, start_hosted_router
from .conftest import KEY_ALPHA, KEY_BETA, Hosted, parse_frames

SANDBOX = "sb_demo"
PATH = f"/api/v1/storage/sandboxes/{SANDBOX}/agents/run"


def seed_client(hosted: Hosted, key: str | None = None) -> AgentRouter:
    """Copass's client on the hosted router; with ``key``, the auth provider its run reads."""
    client = AgentRouter(
        auth=ApiKeyAuth(key=key or "unused"), sandbox_id=SANDBOX, api_url=hosted.url
    )
    if key is not None:
        client.client._auth_provider = ApiKeyAuthProvider(key)  # type: ignore[attr-defined]
    return client


async def collect(client: AgentRouter, **options: Any) -> list[Any]:
    fields = {"provider": "echo", "model": "echo-1", "system": "Be brief.", "end_user_id": "u-1"}
    return [event async for event in client.run(RunAgentOptions(**{**fields, **options}))]


@pytest.fixture
async def keyless(start_hosted: Callable[..., Awaitable[Hosted]]) -> Hosted:
    """A hosted router without API keys: it answers loopback clients only."""
    return await start_hosted(api_keys=[])


async def test_copass_client_runs_a_turn_with_a_tool_unchanged(keyless: Hosted) -> None:
    events = await collect(seed_client(keyless), message='/tool lookup {"city": "Lima"}')
    assert keyless.counter.calls == [{"city": "Lima"}]  # the tool ran once, in the router
    calls = [e for e in events if isinstance(e, AgentToolCall)]
    results = [e for e in events if isinstance(e, AgentToolResult)]
    assert [(c.name, c.arguments) for c in calls] == [("lookup", {"city": "Lima"})]
    assert results == [
        AgentToolResult(calls[0].call_id, "lookup", {"output": "sunny in Lima"}, None)
    ]
    text = "".join(e.text for e in events if isinstance(e, AgentTextDelta))
    assert text == "tool results: lookup -> sunny in Lima"
    finish = events[-1]
    assert isinstance(finish, AgentFinish) and finish.stop_reason == "end_turn"
    assert finish.usage["output_tokens"] > 0
    assert finish.session_id and finish.session_id.startswith("ses_")


async def test_copass_client_continues_its_session_with_the_system_prompt(
    keyless: Hosted,
) -> None:
    client = seed_client(keyless)
    first = await collect(client, message="hello")
    session_id = first[-1].session_id
    second = await collect(client, message="/recall", session_id=session_id)
    assert second[-1].session_id == session_id
    recalled = "".join(e.text for e in second if isinstance(e, AgentTextDelta))
    assert "user: hello" in recalled and "assistant: echo: hello" in recalled
    whoami = await collect(client, message="/whoami", system="Copass system prompt")
    text = "".join(e.text for e in whoami if isinstance(e, AgentTextDelta))
    assert text == "model=echo-1 system=Copass system prompt"


async def test_copass_client_with_the_key_runs_as_its_tenant(hosted: Hosted) -> None:
    events = await collect(seed_client(hosted, KEY_ALPHA), message="hello")
    assert "".join(e.text for e in events if isinstance(e, AgentTextDelta)) == "echo: hello"
    session_id = events[-1].session_id
    async with hosted.http(KEY_BETA) as http:  # another tenant does not see the session
        other = await http.get(f"/v1/sessions/{session_id}", params={"end_user_id": "u-1"})
    assert other.status_code == 404
    async with hosted.http(KEY_ALPHA) as http:
        mine = await http.get(f"/v1/sessions/{session_id}", params={"end_user_id": "u-1"})
    assert mine.status_code == 200


async def test_copass_client_without_a_key_gets_the_401_in_copass_shape(hosted: Hosted) -> None:
    with pytest.raises(RuntimeError) as raised:
        await collect(seed_client(hosted), message="hello")
    message = str(raised.value)
    assert message.startswith("agents.run: HTTP 401 ")
    body = json.loads(message.removeprefix("agents.run: HTTP 401 "))
    assert body["code"] == "unauthorized"
    assert "Authorization: Bearer" in body["detail"]


async def test_a_failed_run_ends_in_agent_error_then_finish(keyless: Hosted) -> None:
    events = await collect(seed_client(keyless), message="/error rate_limited slow down")
    finish = events[-1]
    assert isinstance(finish, AgentFinish) and finish.stop_reason == "error"
    async with keyless.http(None) as http:  # the frames on the wire, as Copass's client reads
        body = {"provider": "echo", "model": "echo-1", "system_prompt": "s", "end_user_id": "u"}
        body["messages"] = [{"role": "user", "content": "/error rate_limited slow down"}]
        response = await http.post(PATH, json=body, headers={"accept": "text/event-stream"})
    frames = parse_frames(response.text)
    names = [frame.get("event") for frame in frames if "data" in frame]
    assert names[-2:] == ["agent_error", "agent_finish"]
    error = json.loads(frames[-2]["data"])
    assert error["code"] == "rate_limited" and "slow down" in error["message"]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages", "session_id"),
        ({"messages": []}, "messages", "non-empty list"),
        ({"system": "x"}, "system", "system_prompt"),
        ({"provider": "nope"}, "provider", "nope"),
    ],
)
async def test_bad_requests_are_refused_in_copass_shape(
    hosted: Hosted, change: dict[str, Any], field: str, says: str
) -> None:
    body = {
        "provider": "echo",
        "model": "echo-1",
        "system_prompt": "s",
        "messages": [{"role": "user", "content": "hello"}],
        "end_user_id": "u-1",
        **change,
    }
    async with hosted.http() as http:
        response = await http.post(PATH, json=body)
    assert response.status_code in (400, 422)
    error = response.json()
    assert next(iter(error)) == "detail"  # what Copass's client shows first
    assert says in error["detail"]
    assert error.get("field") == field


async def test_the_sandbox_id_is_checked_and_carried_as_metadata(hosted: Hosted) -> None:
    body = {
        "provider": "scripted",
        "model": "scripted-1",
        "system_prompt": "Be brief.",
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        ],
        "end_user_id": "u-1",
    }
    async with hosted.http() as http:
        bad = await http.post("/api/v1/storage/sandboxes/a%20b/agents/run", json=body)
        good = await http.post(PATH, json=body)
    assert bad.status_code == 400 and bad.json()["field"] == "sandbox_id"
    assert good.status_code == 200
    (turn,) = hosted.scripted.turns
    assert dict(turn.request.metadata) == {"copass_sandbox": SANDBOX, "tenant": "alpha"}
    assert turn.request.system == "Be brief.\n\nAnswer in French."
    assert turn.message == "hello"
    assert turn.end_user_id == "alpha:u-1"


async def test_a_whole_message_reaches_the_client_once(keyless: Hosted) -> None:
    keyless.scripted.enqueue(ThinkingDelta(text="private"), Message(text="whole answer"))
    keyless.scripted.enqueue(
        TextDelta(text="str"), TextDelta(text="eamed"), Message(text="streamed")
    )
    client = seed_client(keyless)
    for expected in ("whole answer", "streamed"):
        events = await collect(client, provider="scripted", model="scripted-1", message="hi")
        texts = [e.text for e in events if isinstance(e, AgentTextDelta)]
        assert "".join(texts) == expected  # reasoning is not sent; a message is not repeated
        assert isinstance(events[-1], AgentFinish)


async def test_a_failed_tool_is_an_error_result(keyless: Hosted) -> None:
    events = await collect(seed_client(keyless), message='/tool nosuch {"x": 1}')
    (result,) = [e for e in events if isinstance(e, AgentToolResult)]
    assert result.name == "nosuch" and result.result == {}
    assert result.error and "nosuch" in result.error


async def test_a_tool_answering_an_object_is_the_result_object() -> None:
    @tool
    def forecast(city: str) -> dict[str, Any]:
        """The forecast for a city."""
        return {"city": city, "sky": "clear"}

    router = Router(store=":memory:", load_entry_points=False, environ={}, tools=[forecast])
    server, state = await start_hosted_router(router, api_keys=[])
    hosted = HostedRouter(router, server, state)
    try:
        client = AgentRouter(auth=ApiKeyAuth(key="unused"), sandbox_id=SANDBOX, api_url=hosted.url)
        events = await collect(client, message='/tool forecast {"city": "Oslo"}')
    finally:
        await hosted.aclose()
    (result,) = [e for e in events if isinstance(e, AgentToolResult)]
    assert result.result == {"city": "Oslo", "sky": "clear"} and result.error is None


GOOD: dict[str, Any] = {
    "provider": "echo",
    "model": "echo-1",
    "system_prompt": "s",
    "messages": [{"role": "user", "content": "hi"}],
    "end_user_id": "u-1",
}
HOSTILE_BODIES: list[Any] = [
    [],
    "text",
    {},
    {**GOOD, "messages": "hi"},
    {**GOOD, "messages": [1]},
    {**GOOD, "messages": [{"role": "user", "content": 5}]},
    {**GOOD, "messages": [{"role": "user", "content": [{"type": "image"}]}]},
    {**GOOD, "messages": [{"role": "user", "content": ["hi"]}]},
    {**GOOD, "messages": [{"role": "system", "content": "only a system prompt"}]},
    {**GOOD, "message": "hi"},
    {**GOOD, "system_prompt": ["s"]},
    {**GOOD, "end_user_id": 7},
    {**GOOD, "end_user_id": "x" * 300},
    {**GOOD, "session_id": 5},
    {**GOOD, "metadata": "x"},
    {**GOOD, "metadata": {"a": 1}},
    {**GOOD, "tools": [{"name": "shell"}]},
    {**GOOD, "on_disconnect": "explode"},
    {**GOOD, "surprise": True},
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
async def test_a_malformed_request_is_a_4xx_in_copass_shape_and_no_run(
    hosted: Hosted, body: Any
) -> None:
    async with hosted.http() as http:
        answer = await http.post(PATH, json=body)
    assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
    error = answer.json()
    assert next(iter(error)) == "detail" and error["detail"] and error["code"]
    assert not hosted.state.runs


async def test_a_copass_run_resumes_as_a_run_of_its_tenant(hosted: Hosted) -> None:
    async with hosted.http() as http:
        answer = await http.post(PATH, json=GOOD)
        run_id = answer.headers["x-copass-run-id"]
        replay = await http.get(f"/v1/runs/{run_id}/events", params={"end_user_id": "u-1"})
    assert "event: agent_finish" in answer.text
    names = [frame.get("event") for frame in parse_frames(replay.text)]
    assert names[0] == "run_started" and names[-1] == "run_finished"
