"""Both providers through a Router, the real SDK against the emulator over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from copass_router_openai.emulator import OpenAIEmulator

from copass_router import (
    ConfigurationError,
    Error,
    Event,
    InvalidRequestError,
    Message,
    Retry,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
    tool,
)
from copass_router.testing import ScriptedBackend, ScriptedPlugin


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    return f"sunny in {city} ({unit})"


@tool
def get_time(zone: str) -> str:
    """The time in a time zone."""
    return f"noon in {zone}"


async def events_of(
    router: Router, message: str, provider: str = "openai", **kw: Any
) -> list[Event]:
    return [e async for e in router.run(provider=provider, message=message, **kw)]


def finished(events: list[Event]) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


async def test_streamed_text(openai_router: Router, emu: OpenAIEmulator, api_key: str) -> None:
    events = await events_of(openai_router, "stream this please", system="Be brief.")
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["echo: ", "stream ", "this ", "please"]
    assert [e.text for e in events if isinstance(e, Message)] == ["echo: stream this please"]
    assert finished(events).stop_reason is StopReason.END_TURN
    [request] = emu.chat_requests()
    assert request.sent("authorization", f"Bearer {api_key}")
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert request.body["stream_options"] == {"include_usage": True}
    assert len(request.body["safety_identifier"]) == 32  # hashed end user, never the raw id


async def test_tool_call_arguments_in_many_chunks(
    openai_router: Router, emu: OpenAIEmulator
) -> None:
    emu.argument_piece = 2
    message = '/tool get_weather {"city": "Reykjavik", "unit": "kelvin"}'
    events = await events_of(openai_router, message, tools=[get_weather])
    [call] = [e for e in events if isinstance(e, ToolCall)]
    assert (call.name, dict(call.arguments)) == (
        "get_weather",
        {"city": "Reykjavik", "unit": "kelvin"},
    )
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert result.output == "sunny in Reykjavik (kelvin)" and not result.is_error
    first, second = emu.chat_requests()
    assert first.body["tools"][0]["function"]["name"] == "get_weather"
    assert second.body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "sunny in Reykjavik (kelvin)",
    }
    assert "sunny in Reykjavik" in "".join(e.text for e in events if isinstance(e, Message))


@pytest.mark.parametrize("style", ["interleaved", "sequential", "whole"])
async def test_two_parallel_calls(openai_router: Router, emu: OpenAIEmulator, style: str) -> None:
    emu.tool_call_style = style
    message = '/tools get_weather {"city": "Oslo"} ; get_time {"zone": "UTC"}'
    events = await events_of(openai_router, message, tools=[get_weather, get_time])
    calls = [(e.name, dict(e.arguments)) for e in events if isinstance(e, ToolCall)]
    assert calls == [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "UTC"})]
    outputs = sorted(e.output for e in events if isinstance(e, ToolResult))
    assert outputs == ["noon in UTC", "sunny in Oslo (celsius)"]
    assistant = emu.chat_requests()[1].body["messages"][1]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["get_weather", "get_time"]


async def test_usage_is_summed_over_model_requests(openai_router: Router) -> None:
    events = await events_of(openai_router, '/tool get_time {"zone": "CET"}', tools=[get_time])
    reports = [e for e in events if isinstance(e, Usage)]
    assert len(reports) == 2
    total = finished(events).usage
    assert total.input_tokens == sum(r.input_tokens for r in reports) > 0
    assert total.output_tokens == sum(r.output_tokens for r in reports) > 0


async def test_429_is_retried_with_retry_after(openai_router: Router, emu: OpenAIEmulator) -> None:
    emu.faults.fail_next(429, retry_after=0.01)
    events = await events_of(openai_router, "patience")
    assert finished(events).stop_reason is StopReason.END_TURN
    # The core retried: a Retry event, and each attempt a fresh SDK request.
    assert [r.headers["x-stainless-retry-count"] for r in emu.chat_requests()] == ["0", "0"]
    assert [e.attempt for e in events if isinstance(e, Retry)] == [1]


async def test_429_exhausted_is_a_retryable_error(
    router_with: Callable[..., Router], openai_env: dict[str, str], emu: OpenAIEmulator
) -> None:
    router = router_with({**openai_env, "COPASS_ROUTER_MAX_RETRIES": "0"})
    emu.faults.fail_next(429, retry_after=0.01)
    events = await events_of(router, "too fast")
    [error] = [e for e in events if isinstance(e, Error)]
    assert (error.code, error.retryable, error.provider) == ("rate_limited", True, "openai")
    assert error.detail == {
        "status": 429,
        "request_id": error.detail["request_id"],
        "provider_code": "rate_limit_exceeded",
    }
    assert finished(events).stop_reason is StopReason.ERROR
    assert len(emu.chat_requests()) == 1


async def test_5xx_after_retries_is_an_error(
    router_with: Callable[..., Router], openai_env: dict[str, str], emu: OpenAIEmulator
) -> None:
    router = router_with({**openai_env, "COPASS_ROUTER_MAX_RETRIES": "1"})
    emu.faults.fail_next(502, count=2, retry_after=0.01)
    events = await events_of(router, "x")
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "server_error" and error.retryable
    assert "502" in error.message
    assert len(emu.chat_requests()) == 2


@pytest.mark.parametrize("mode", ["drop", "eof"])
async def test_stream_cut_mid_turn(openai_router: Router, emu: OpenAIEmulator, mode: str) -> None:
    emu.faults.cut_stream(after_events=3, mode=mode)
    events = await events_of(openai_router, "one two three four five")
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "stream_cut" and error.retryable
    assert [e.text for e in events if isinstance(e, Message)] == ["echo: one "]
    assert finished(events).stop_reason is StopReason.ERROR


async def test_error_inside_the_stream(openai_router: Router) -> None:
    events = await events_of(openai_router, "/error overloaded the model is busy")
    [error] = [e for e in events if isinstance(e, Error)]
    assert (error.code, error.message, error.retryable) == ("overloaded", "the model is busy", True)
    assert finished(events).stop_reason is StopReason.ERROR


async def test_tool_loop_stops_at_the_round_cap(openai_router: Router, emu: OpenAIEmulator) -> None:
    events = await events_of(
        openai_router, '/loop get_time {"zone": "UTC"}', tools=[get_time], max_tool_rounds=3
    )
    assert finished(events).stop_reason is StopReason.TOOL_LIMIT
    assert len([e for e in events if isinstance(e, ToolResult)]) == 3
    assert len(emu.chat_requests()) == 4


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("/max_tokens", StopReason.MAX_TOKENS), ("/refuse", StopReason.REFUSAL)],
)
async def test_finish_reasons_map(openai_router: Router, prompt: str, expected: StopReason) -> None:
    events = await events_of(openai_router, prompt)
    assert finished(events).stop_reason is expected
    assert [e for e in events if isinstance(e, Message)]


async def test_content_filter_is_a_refusal(openai_router: Router, emu: OpenAIEmulator) -> None:
    emu.faults.filter_next()
    events = await events_of(openai_router, "something flagged")
    assert finished(events).stop_reason is StopReason.REFUSAL


async def test_reasoning_from_a_compatible_runtime(compatible_router: Router) -> None:
    events = await events_of(compatible_router, "/think step by step", "openai-compatible")
    [thinking] = [e for e in events if isinstance(e, ThinkingMessage)]
    assert thinking.text == "reasoning: pets yb pets"
    assert [e.text for e in events if isinstance(e, Message)] == ["I thought about: step by step"]


async def test_compatible_provider_needs_no_key(
    compatible_router: Router, emu: OpenAIEmulator
) -> None:
    events = await events_of(compatible_router, "local hello", "openai-compatible")
    assert finished(events).stop_reason is StopReason.END_TURN
    [request] = emu.chat_requests()
    assert "authorization" not in request.headers
    assert "openai-organization" not in request.headers
    assert request.body["model"] == "llama3.2"
    assert "safety_identifier" not in request.body


async def test_compatible_key_goes_only_to_the_configured_url(
    router_with: Callable[..., Router], emu: OpenAIEmulator, compatible_env: dict[str, str]
) -> None:
    emu.api_key = None
    secret = "vllm-key-123456789"
    router = router_with({**compatible_env, "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": secret})
    await events_of(router, "a", "openai-compatible")
    other = emu.base_url.replace("127.0.0.1", "localhost")
    await events_of(router, "b", "openai-compatible", options={"base_url": other})
    first, second = emu.chat_requests()
    assert first.sent("authorization", f"Bearer {secret}")
    assert "authorization" not in second.headers


async def test_compatible_base_url_per_run(
    router_with: Callable[..., Router], emu: OpenAIEmulator
) -> None:
    emu.api_key = None
    router = router_with({})  # default would be Ollama on localhost:11434
    events = await events_of(
        router,
        "via option",
        "openai-compatible",
        options={"base_url": emu.base_url},
        temperature=0.2,
        max_output_tokens=50,
        stop="END",
    )
    assert finished(events).stop_reason is StopReason.END_TURN
    [request] = emu.chat_requests()
    assert request.body["temperature"] == 0.2 and request.body["max_tokens"] == 50
    assert request.body["stop"] == ["END"] and "max_completion_tokens" not in request.body


@pytest.mark.parametrize(
    ("option", "field"),
    [("temperature", "temperature"), ("max_tokens", "max_output_tokens"), ("stop", "stop")],
)
async def test_sampling_options_point_to_the_run_fields(
    openai_router: Router, option: str, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await events_of(openai_router, "old style", options={option: 1})
    assert f"pass {field}=" in str(refused.value)


async def test_unreachable_runtime_names_the_setting_and_logs_the_url(
    router_with: Callable[..., Router], caplog: pytest.LogCaptureFixture
) -> None:
    router = router_with(
        {
            "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": "http://127.0.0.1:9/v1",
            "COPASS_ROUTER_MAX_RETRIES": "0",
        }
    )
    events = await events_of(router, "anyone?", "openai-compatible")
    [error] = [e for e in events if isinstance(e, Error)]
    # The event names what to check; the URL (internal, for a hosted router) is the log's.
    assert error.code == "connection_failed"
    assert "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL" in error.message
    assert "127.0.0.1:9" not in error.message and "ConnectError" not in error.message
    assert "http://127.0.0.1:9/v1" in caplog.text


async def test_missing_openai_key_is_a_configuration_error(
    router_with: Callable[..., Router], emu: OpenAIEmulator
) -> None:
    router = router_with({"OPENAI_BASE_URL": emu.base_url})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        await events_of(router, "hi")
    assert emu.chat_requests() == []


async def test_wrong_key_never_reaches_the_events(
    router_with: Callable[..., Router], emu: OpenAIEmulator
) -> None:
    secret = "sk-live-abcdefghijklmnop"
    router = router_with({"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": emu.base_url})
    events = await events_of(router, "hi")
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "authentication_failed"
    assert "abcdefghijklmnop" not in json.dumps([repr(e) for e in events])


@pytest.mark.parametrize(
    ("provider", "options"),
    [
        ("openai", {"base_url": "http://evil.example/v1"}),
        ("openai", {"nonsense": 1}),
        ("openai-compatible", {"base_url": "ftp://x"}),
        ("openai", {"max_retries": -1}),
    ],
)
async def test_bad_options_are_refused_before_anything_is_sent(
    openai_router: Router, emu: OpenAIEmulator, provider: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequestError):
        await events_of(openai_router, "hi", provider, options=options)
    assert emu.chat_requests() == []


async def test_breaking_out_closes_the_provider_stream(
    openai_router: Router, emu: OpenAIEmulator
) -> None:
    stream = openai_router.run(provider="openai", message="/slow 0.2 a b c d e f g h")
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    for _ in range(100):  # the server notices the closed connection on its next write
        if emu.streams.abandoned:
            break
        await asyncio.sleep(0.05)
    assert emu.streams.abandoned == 1 and emu.streams.completed == 0


async def test_a_session_from_another_provider_continues_here(
    router_with: Callable[..., Router], openai_env: dict[str, str], emu: OpenAIEmulator
) -> None:
    other = ScriptedBackend()
    foreign_id = "toolu_" + "Z" * 50  # longer than OpenAI accepts
    other.enqueue(
        ToolCall(call_id=foreign_id, name="crm.lookup", arguments={"id": 7}),
        ToolResult(call_id=foreign_id, name="crm.lookup", output="customer Ada"),
        Message(text="Ada it is."),
    )
    router = router_with(openai_env, ScriptedPlugin(elsewhere=other))
    first = [e async for e in router.run(provider="elsewhere", message="who is 7?")]
    session_id = first[0].session_id  # type: ignore[attr-defined]
    events = await events_of(router, "/recall", session_id=session_id)
    assert finished(events).stop_reason is StopReason.END_TURN
    recall = "".join(e.text for e in events if isinstance(e, Message))
    assert "user: who is 7?" in recall and "assistant: Ada it is." in recall
    assert '{"id": 7}' in recall and ": customer Ada" in recall
    sent = emu.chat_requests()[0].body["messages"]
    call_id = sent[1]["tool_calls"][0]["id"]
    assert call_id != foreign_id and len(call_id) <= 40
    assert sent[2]["tool_call_id"] == call_id


async def test_options_reach_openai_in_its_own_fields(
    openai_router: Router, emu: OpenAIEmulator
) -> None:
    options = {"seed": 7, "parallel_tool_calls": False}
    await events_of(openai_router, "plain", options=options, max_output_tokens=64)
    await events_of(
        openai_router, "with tools", options=options, tools=[get_time], max_output_tokens=64
    )
    plain, with_tools = (r.body for r in emu.chat_requests())
    assert plain["max_completion_tokens"] == 64 and "max_tokens" not in plain
    assert plain["seed"] == 7 and plain["stream_options"] == {"include_usage": True}
    assert "parallel_tool_calls" not in plain and "tools" not in plain
    assert with_tools["parallel_tool_calls"] is False
