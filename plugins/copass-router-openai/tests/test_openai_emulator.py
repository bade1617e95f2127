"""The emulator, driven by the raw ``openai`` SDK: framing, chunks, faults, validation."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from copass_router_openai.emulator import OpenAIEmulator


@pytest.fixture
def client(emu: OpenAIEmulator, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emu.base_url, api_key=api_key, max_retries=2)


async def _chunks(client: openai.AsyncOpenAI, prompt: str, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        **kwargs,
    )
    return [chunk async for chunk in stream]


async def test_text_streams_word_by_word(client: openai.AsyncOpenAI) -> None:
    chunks = await _chunks(client, "hello there world")
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["echo: ", "hello ", "there ", "world"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # usage only when asked for


async def test_usage_chunk_when_asked(client: openai.AsyncOpenAI) -> None:
    chunks = await _chunks(client, "count me", stream_options={"include_usage": True})
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.prompt_tokens == 2
    assert last.usage.completion_tokens == 3
    assert last.usage.total_tokens == 5


async def test_tool_call_arguments_split_with_id_and_name_once(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator
) -> None:
    emu.argument_piece = 3
    chunks = await _chunks(client, '/tool get_weather {"city": "Paris", "unit": "celsius"}')
    fragments = [f for c in chunks if c.choices for f in c.choices[0].delta.tool_calls or []]
    assert len(fragments) > 10
    assert fragments[0].id == "call_0" and fragments[0].function.name == "get_weather"
    assert all(f.id is None and f.function.name is None for f in fragments[1:])
    text = "".join(f.function.arguments or "" for f in fragments)
    assert json.loads(text) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_parallel_calls_interleave_by_index(client: openai.AsyncOpenAI) -> None:
    chunks = await _chunks(client, '/tools a {"x": "one"} ; b {"y": "two"}')
    indexes = [f.index for c in chunks if c.choices for f in c.choices[0].delta.tool_calls or []]
    assert indexes[:4] == [0, 1, 0, 1]
    by_index: dict[int, str] = {0: "", 1: ""}
    for c in chunks:
        for f in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            by_index[f.index] += f.function.arguments or ""
    assert json.loads(by_index[0]) == {"x": "one"} and json.loads(by_index[1]) == {"y": "two"}


async def test_non_streamed_completion_and_models(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "echo: hi"
    assert completion.usage is not None and completion.usage.completion_tokens == 2
    models = await client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")


async def test_429_with_retry_after_is_retried(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator
) -> None:
    emu.faults.fail_next(429, retry_after=0.01)
    chunks = await _chunks(client, "after the limit")
    assert chunks[-1].choices[0].finish_reason == "stop"
    sent = emu.chat_requests()
    assert [r.headers["x-stainless-retry-count"] for r in sent] == ["0", "1"]


async def test_5xx_after_retries_raises(client: openai.AsyncOpenAI, emu: OpenAIEmulator) -> None:
    emu.faults.fail_next(503, count=3, retry_after=0.01)
    with pytest.raises(openai.InternalServerError) as caught:
        await _chunks(client, "x")
    assert caught.value.status_code == 503
    assert caught.value.request_id and caught.value.request_id.startswith("req_emu_")
    assert len(emu.chat_requests()) == 3


async def test_dropped_stream_raises_connection_error(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator
) -> None:
    emu.faults.cut_stream(after_events=2)
    with pytest.raises(openai.APIConnectionError):
        await _chunks(client, "one two three four")
    assert len(emu.chat_requests()) == 1  # the SDK never retries a stream once it started


async def test_eof_cut_ends_without_finish_reason(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator
) -> None:
    emu.faults.cut_stream(after_events=2, mode="eof")
    chunks = await _chunks(client, "one two three four")
    assert len(chunks) == 2
    assert all(c.choices[0].finish_reason is None for c in chunks)


async def test_scripted_error_arrives_mid_stream(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIError) as caught:
        await _chunks(client, "/error overloaded busy now")
    assert not isinstance(caught.value, openai.APIStatusError)
    # OpenAI's own word for it; the backend maps it to the core's "overloaded".
    assert caught.value.code == "server_overloaded" and caught.value.message == "busy now"


async def test_wrong_key_is_refused(emu: OpenAIEmulator) -> None:
    client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="sk-wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        await _chunks(client, "hi")
    assert "sk-wrong-key" not in str(caught.value)


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([{"role": "tool", "tool_call_id": "x", "content": "r"}], "must be a response"),
        (
            [
                {"role": "user", "content": "u"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c" * 41,
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            ],
            "maximum length 40",
        ),
        (
            [
                {"role": "user", "content": "u"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "user", "content": "again"},
            ],
            "did not have response messages",
        ),
    ],
)
async def test_requests_openai_refuses_are_refused(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], needle: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert needle in str(caught.value)


async def test_bad_tool_name_is_refused(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "has space", "parameters": {}}}],
        )


async def test_reasoning_streams_in_the_configured_field(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator
) -> None:
    emu.reasoning_field = "reasoning"
    chunks = await _chunks(client, "/think about cats")
    extras = [(c.choices[0].delta.model_extra or {}) for c in chunks if c.choices]
    assert "".join(e.get("reasoning", "") for e in extras) == "reasoning: stac tuoba"


async def test_request_log_records_what_was_sent(
    client: openai.AsyncOpenAI, emu: OpenAIEmulator, api_key: str
) -> None:
    await _chunks(client, "logged", temperature=0.5)
    [request] = emu.chat_requests()
    assert request.method == "POST"
    assert request.sent("authorization", f"Bearer {api_key}")
    assert request.body["temperature"] == 0.5 and request.body["stream"] is True


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_tokens": 5, "max_completion_tokens": 5}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
async def test_sampling_fields_are_checked_as_openai_checks_them(
    client: openai.AsyncOpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await _chunks(client, "hello", **fields)
    assert caught.value.param == param


async def test_sampling_fields_reach_the_model(client: openai.AsyncOpenAI) -> None:
    chunks = await _chunks(client, "/settings", temperature=0.7, max_completion_tokens=9, stop="ZZ")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == 'temperature=0.7 max_output_tokens=9 stop=["ZZ"]'
    cut = await _chunks(client, "/long 12", max_tokens=4)
    assert cut[-1].choices[0].finish_reason == "length"
