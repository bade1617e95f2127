"""``gemini-agents`` through a Router: the real google-genai SDK against the Interactions
emulator over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import copass_router_google
import pytest

from copass_router import (
    Budget,
    ConfigurationError,
    Event,
    Message,
    ProviderEvent,
    Router,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
    tool,
)

from .conftest import GEMINI_KEY

PROVIDER = "gemini-agents"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(zone: str) -> str:
    """The time in a time zone."""
    return f"noon in {zone}"


async def run(router: Router, message: str, **kw: Any) -> list[Event]:
    kw.setdefault("end_user_id", "u-1")
    return [e async for e in router.run(provider=PROVIDER, message=message, **kw)]


def finished(events: list[Event]) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_a_text_turn_is_one_streamed_interaction(
    gemini_router: Router, interactions_emu: Any
) -> None:
    events = await run(gemini_router, "stream this please", system="Be brief.")
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "echo: ",
        "stream ",
        "this ",
        "please",
    ]
    assert finished(events).stop_reason is StopReason.END_TURN
    [body] = interactions_emu.create_bodies()
    assert body["model"] == "gemini-2.5-flash" and body["stream"] is True
    assert body["system_instruction"] == "Be brief."
    assert body["input"] == [
        {"type": "user_input", "content": [{"type": "text", "text": "stream this please"}]}
    ]
    # One opaque label per end user: no raw user id leaves the router.
    assert body["labels"] == {"copass_end_user": hashlib.sha256(b"u-1").hexdigest()[:32]}
    [request] = interactions_emu.requests.matching("/v1beta/interactions", method="POST")
    assert request.headers["x-goog-api-key"] != GEMINI_KEY  # redacted in the log, but sent


async def test_parallel_calls_answered_with_function_results_on_the_chain(
    gemini_router: Router, interactions_emu: Any
) -> None:
    message = '/tools get_weather {"city": "Oslo"} ; get_time {"zone": "UTC"}'
    events = await run(gemini_router, message, tools=[get_weather, get_time])
    calls = [e for e in events if isinstance(e, ToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {"zone": "UTC"}),
    ]
    assert {r.output for r in results} == {"sunny in Oslo", "noon in UTC"}
    assert "sunny in Oslo" in text(events) and "noon in UTC" in text(events)
    first, second = interactions_emu.create_bodies()
    assert [t["name"] for t in first["tools"]] == ["get_weather", "get_time"]
    assert "previous_interaction_id" not in first
    # The second interaction continues the first and sends only the answers.
    assert second["previous_interaction_id"].startswith("int_emu_")
    assert [s["type"] for s in second["input"]] == ["function_result", "function_result"]
    assert {s["call_id"] for s in second["input"]} == {c.call_id for c in calls}


async def test_the_next_turn_continues_the_chain_with_only_the_new_message(
    gemini_router: Router, interactions_emu: Any
) -> None:
    first = await run(gemini_router, "remember kiwi")
    session_id = first[0].session_id  # type: ignore[attr-defined]
    [first_id] = interactions_emu.interactions
    second = await run(gemini_router, "/recall", session_id=session_id)
    assert "user: remember kiwi" in text(second)
    bodies = interactions_emu.create_bodies()
    assert bodies[1]["previous_interaction_id"] == first_id
    assert len(bodies[1]["input"]) == 1  # the service holds the first turn


async def test_thinking_streams_and_usage_is_metered(gemini_router: Router) -> None:
    events = await run(gemini_router, "/think hard problem")
    [thought] = [e for e in events if isinstance(e, ThinkingMessage)]
    assert thought.text == "reasoning: melborp drah"
    [usage] = [e for e in events if isinstance(e, Usage)]
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert finished(events).cost_usd is not None  # a list price is registered for this model


async def test_a_model_without_a_list_price_costs_nothing_guessed(gemini_router: Router) -> None:
    events = await run(gemini_router, "hello", model="gemini-3-flash")
    assert finished(events).stop_reason is StopReason.END_TURN
    assert finished(events).cost_usd is None


async def test_breaking_out_cancels_the_interaction_provider_side(
    gemini_router: Router, interactions_emu: Any
) -> None:
    words = " ".join(f"w{i}" for i in range(30))
    stream = gemini_router.run(provider=PROVIDER, message=f"/slow 0.05 {words}", end_user_id="u")
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    for _ in range(100):
        if interactions_emu.cancelled:
            break
        await asyncio.sleep(0.02)
    assert len(interactions_emu.cancelled) == 1


async def test_the_run_timeout_cancels_the_interaction(
    gemini_router: Router, interactions_emu: Any
) -> None:
    await run(gemini_router, "warm up")  # the SDK's first import must not eat the timeout
    events = await run(gemini_router, "/slow 0.2 a b c d e f g h i j", timeout=0.5)
    assert finished(events).stop_reason in (StopReason.CANCELLED, StopReason.ERROR)
    for _ in range(100):
        if interactions_emu.cancelled:
            break
        await asyncio.sleep(0.02)
    assert len(interactions_emu.cancelled) == 1


async def test_deleting_the_session_deletes_its_interactions(
    gemini_router: Router, interactions_emu: Any
) -> None:
    first = await run(gemini_router, '/tool get_weather {"city": "Rome"}', tools=[get_weather])
    session_id = first[0].session_id  # type: ignore[attr-defined]
    await run(gemini_router, "and then", session_id=session_id)
    assert len(interactions_emu.interactions) == 3
    await gemini_router.delete_session(session_id, "u-1")
    assert interactions_emu.interactions == {}


async def test_a_chain_gone_provider_side_is_rebuilt_from_the_transcript(
    gemini_router: Router, interactions_emu: Any
) -> None:
    first = await run(gemini_router, "remember fig")
    session_id = first[0].session_id  # type: ignore[attr-defined]
    interactions_emu.interactions.clear()
    second = await run(gemini_router, "/recall", session_id=session_id)
    assert finished(second).stop_reason is StopReason.END_TURN
    assert "user: remember fig" in text(second) and "assistant: echo: remember fig" in text(second)


async def test_built_in_tools_only_when_the_operator_enables_them(
    make_router: Callable[..., Router], gemini_env: dict[str, str], interactions_emu: Any
) -> None:
    plain = make_router(plugins=[copass_router_google], environ=gemini_env)
    await run(plain, "hello")
    assert "tools" not in interactions_emu.create_bodies()[-1]
    enabled = make_router(
        plugins=[copass_router_google],
        environ=gemini_env,
        provider_settings={PROVIDER: {"builtin_tools": ["code_execution"]}},
    )
    events = await run(enabled, '/tool code_execution {"code": "print(1)"}')
    assert interactions_emu.create_bodies()[-1]["tools"] == [{"type": "code_execution"}]
    kinds = [e.kind for e in events if isinstance(e, ProviderEvent)]
    assert kinds == ["code_execution_call", "code_execution_result"]
    assert not [e for e in events if isinstance(e, ToolCall)]  # the vendor ran it, not the router
    assert "code_execution ran" in text(events)
    assert [e for e in events if isinstance(e, Usage)]


async def test_an_unknown_built_in_tool_is_a_configuration_error(
    make_router: Callable[..., Router], gemini_env: dict[str, str]
) -> None:
    router = make_router(
        plugins=[copass_router_google],
        environ={**gemini_env, "COPASS_GEMINI_AGENTS_BUILTIN_TOOLS": "shell"},
    )
    with pytest.raises(ConfigurationError, match="code_execution"):
        await run(router, "hello")


async def test_a_missing_key_says_what_to_set(make_router: Callable[..., Router]) -> None:
    router = make_router(plugins=[copass_router_google], environ={})
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        await run(router, "hello")


async def test_run_started_names_the_model(gemini_router: Router) -> None:
    events = await run(gemini_router, "/whoami", model="gemini-2.5-pro")
    assert isinstance(events[0], RunStarted) and events[0].model == "gemini-2.5-pro"
    assert "model=gemini-2.5-pro" in text(events)


async def test_a_budget_spent_mid_turn_stops_the_run_and_its_interaction_chain(
    gemini_router: Router, interactions_emu: Any
) -> None:
    gemini_router.budgets.set(Budget(metric="tokens", limit=40, end_user_id="*"))
    events = await run(
        gemini_router, '/loop get_weather {"city": "Lima"}', tools=[get_weather], max_tool_rounds=50
    )
    assert finished(events).stop_reason is StopReason.BUDGET
    usage = [e for e in events if isinstance(e, Usage)]
    spent = sum(u.input_tokens + u.output_tokens for u in usage)
    last = usage[-1].input_tokens + usage[-1].output_tokens
    assert spent - last < 40 <= spent, "it stopped at the interaction that crossed the limit"
    assert len(interactions_emu.create_bodies()) == len(usage)


async def test_another_model_starts_a_new_chain_with_the_transcript(
    gemini_router: Router, interactions_emu: Any
) -> None:
    first = await run(gemini_router, "/think which fruit")
    session_id = first[0].session_id  # type: ignore[attr-defined]
    second = await run(gemini_router, "/recall", session_id=session_id, model="gemini-2.5-pro")
    assert "user: /think which fruit" in text(second)
    body = interactions_emu.create_bodies()[-1]
    assert "previous_interaction_id" not in body  # the other model's reasoning stays behind
    assert "reasoning:" not in str(body["input"])


async def test_reasoning_is_kept_with_its_thought_signature(gemini_router: Router) -> None:
    from copass_router import ReasoningItem

    events = await run(gemini_router, "/think a plan")
    started = events[0]
    [turn] = await gemini_router.transcript(started.session_id, "u-1")  # type: ignore[attr-defined]
    [thought] = [i for i in turn.items if isinstance(i, ReasoningItem)]
    assert thought.text == "reasoning: nalp a"
    assert (thought.provider, thought.model) == ("gemini-agents", started.model)  # type: ignore[attr-defined]
    assert thought.provider_data == {"gemini-agents": {"signature": "sig-0"}}
