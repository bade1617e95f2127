"""Each fault switch ends in the right events, with the transcript intact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from copass_router_anthropic.emulator import EmulatorServer

from copass_router import (
    Error,
    Message,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    ToolResult,
    TurnStatus,
    split_history,
    tool,
)


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", message=message, **fields)]


def errors(events: list[Any]) -> list[Error]:
    return [e for e in events if isinstance(e, Error)]


async def last_turn(router: Router, events: list[Any]) -> Any:
    turns = await router.transcript(events[0].session_id, "local")
    return turns[-1]


async def test_429_with_retry_after_on_send_is_retried(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.fail_next(429, method="POST", path="/v1/sessions/*", retry_after=0.2)
    events = await run(anthropic_router, "through the rate limit")
    assert events[-1].stop_reason is StopReason.END_TURN and not errors(events)
    posts = [r for r in emulator.state.requests_to("POST", "/v1/sessions/")]
    # The core retried (a Retry event), each attempt a fresh SDK request.
    assert [r.headers["x-stainless-retry-count"] for r in posts] == ["0", "0"]
    assert [type(e).__name__ for e in events].count("Retry") == 1
    (session,) = emulator.app.state.api.engines.values()
    assert [e["type"] for e in session.log].count("user.message") == 1


async def test_5xx_beyond_retries_is_a_provider_error(
    make_anthropic_router: Callable[..., Router], emulator: EmulatorServer
) -> None:
    router = make_anthropic_router(COPASS_ROUTER_MAX_RETRIES="1")
    emulator.faults.fail_next(500, count=2, method="POST", path="/v1/sessions*")
    events = await run(router, "the API is down")
    (error,) = errors(events)
    assert error.code == "server_error" and error.retryable and error.provider == "anthropic"
    assert error.detail["status"] == 500 and error.detail["request_id"].startswith("req_")
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.ERROR
    turn = await last_turn(router, events)
    assert turn.user == "the API is down" and turn.status is TurnStatus.FAILED


async def test_a_stream_cut_mid_turn_reconnects(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.cut_stream(after_events=6)
    events = await run(anthropic_router, "/long 12")
    text = "".join(e.text for e in events if isinstance(e, Message))
    assert text == " ".join(f"w{i}" for i in range(1, 13))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert events[-1].stop_reason is StopReason.END_TURN and not errors(events)
    assert emulator.streams.opened == 2


async def test_a_stream_that_keeps_dropping_ends_in_an_error(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.cut_stream(after_events=5, count=10)
    events = await run(anthropic_router, "/slow 0.05 a b c d e f g h i j k l m n o p")
    (error,) = errors(events)
    assert error.code == "stream_cut" and error.retryable
    assert events[-1].stop_reason is StopReason.ERROR
    assert emulator.state.interrupts == 1  # the abandoned turn is stopped at the provider
    turn = await last_turn(anthropic_router, events)
    assert turn.status is TurnStatus.FAILED and turn.text.startswith("echo: a")


async def test_session_error_while_retrying_then_recovering(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.session_error = "model_overloaded_error"
    events = await run(anthropic_router, "overloaded but fine")
    (error,) = errors(events)
    assert (error.code, error.retryable) == ("overloaded", True)
    assert error.detail == {
        "type": "model_overloaded_error",
        "retry_status": "retrying",
        "provider_code": "model_overloaded_error",
    }
    assert events[-1].stop_reason is StopReason.END_TURN
    assert "echo: overloaded but fine" in "".join(e.text for e in events if isinstance(e, Message))


async def test_session_error_exhausted_ends_the_turn(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.session_error = "model_rate_limited_error"
    emulator.faults.session_error_retry = "exhausted"
    events = await run(anthropic_router, "never answered")
    (error,) = errors(events)
    assert (error.code, error.detail["retry_status"]) == ("rate_limited", "exhausted")
    assert events[-1].stop_reason is StopReason.ERROR
    turn = await last_turn(anthropic_router, events)
    assert turn.status is TurnStatus.FAILED and turn.user == "never answered"
    # The session is idle again and takes the next turn.
    after = await run(anthropic_router, "next", session_id=events[0].session_id)
    assert after[-1].stop_reason is StopReason.END_TURN
    assert emulator.state.creates["session"] == 1


async def test_terminal_session_error_and_a_fresh_session_after(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    first = await run(anthropic_router, "remember plum")
    session_id = first[0].session_id
    emulator.faults.session_error = "billing_error"
    emulator.faults.session_error_retry = "terminal"
    events = await run(anthropic_router, "this one dies", session_id=session_id)
    (error,) = errors(events)
    assert (error.code, error.retryable, error.detail["type"]) == (
        "permission_denied",
        False,
        "billing_error",
    )
    assert events[-1].stop_reason is StopReason.ERROR
    after = await run(anthropic_router, "/recall", session_id=session_id)
    text = "".join(e.text for e in after if isinstance(e, Message))
    assert after[-1].stop_reason is StopReason.END_TURN and "user: remember plum" in text
    assert emulator.state.creates["session"] == 2


async def test_session_deleted_mid_turn(anthropic_router: Router, emulator: EmulatorServer) -> None:
    emulator.faults.inject = [{"type": "session.deleted"}]
    events = await run(anthropic_router, "gone")
    assert [e.code for e in errors(events)] == ["not_found"]
    assert events[-1].stop_reason is StopReason.ERROR


async def test_budget_and_refusal_stop_reasons(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.stop_reason = "budget_reached"
    events = await run(anthropic_router, "spend it all")
    assert events[-1].stop_reason is StopReason.BUDGET and not errors(events)
    events = await run(anthropic_router, "/refuse")
    assert events[-1].stop_reason is StopReason.REFUSAL
    assert "".join(e.text for e in events if isinstance(e, Message)) == "I can't help with that."


async def test_slow_provider_and_a_turn_timeout_keep_usage_and_interrupt(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.hang(0.05, count=100)  # every API response is slow

    @tool
    async def crawl(url: str) -> str:
        """Takes far longer than the turn may."""
        await asyncio.sleep(30)
        return "done"

    events = await run(anthropic_router, '/tool crawl {"url": "u"}', tools=[crawl], timeout=1.0)
    assert [e.code for e in errors(events)] == ["timeout"]
    finished = events[-1]
    assert finished.stop_reason is StopReason.ERROR
    assert finished.session_id == events[0].session_id
    assert finished.usage.input_tokens > 0  # the first model request's usage is kept
    assert emulator.state.interrupts == 1
    assert not [e for e in events if isinstance(e, ToolResult)]


async def test_a_message_the_session_never_got_is_sent_later_as_context(
    make_anthropic_router: Callable[..., Router], emulator: EmulatorServer
) -> None:
    router = make_anthropic_router(COPASS_ROUTER_MAX_RETRIES="0")
    first = await run(router, "first message")
    session_id = first[0].session_id
    emulator.faults.fail_next(500, method="POST", path="/v1/sessions/*")
    failed = await run(router, "lost message", session_id=session_id)
    assert failed[-1].stop_reason is StopReason.ERROR
    after = await run(router, "/recall", session_id=session_id)
    text = "".join(e.text for e in after if isinstance(e, Message))
    # The session's own memory of the first turn, the lost one as history.
    assert (
        text == "recall:\nuser: first message\nassistant: echo: first message\nuser: lost message"
    )
    latest = emulator.state.sent_events("user.message")[-1]
    earlier, own = split_history(latest["content"][0]["text"])
    assert [m.text for m in earlier] == ["lost message"] and own == ""
    assert emulator.state.creates["session"] == 1


async def test_usage_missing_from_spans_comes_from_session_usage(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    first = await run(anthropic_router, "count this")
    emulator.faults.hide_spans = True
    second = await run(anthropic_router, "and this one too", session_id=first[0].session_id)
    (native,) = emulator.state.sessions.values()
    total = native["usage"]
    one, two = first[-1].usage, second[-1].usage
    assert one.input_tokens > 0 and two.input_tokens > 0 and two.output_tokens == 5
    assert one.input_tokens + two.input_tokens == total["input_tokens"]
    assert one.output_tokens + two.output_tokens == total["output_tokens"]
