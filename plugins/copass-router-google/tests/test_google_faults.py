"""Each emulator fault, seen through the router: retried, or an Error and a failed run."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from copass_router_google.emulator import GoogleEmulator

from copass_router import Error, Message, StopReason, TextDelta


def errors(events: list[Any]) -> list[Error]:
    return [e for e in events if isinstance(e, Error)]


async def test_429_on_the_stream_is_retried(
    run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    fresh_emulator.faults.fail_next(429, path="*:streamQuery", retry_after=1)
    events = await run_google("after a rate limit")
    assert events[-1].stop_reason is StopReason.END_TURN
    assert "".join(e.text for e in events if isinstance(e, Message)) == "echo: after a rate limit"
    assert len(fresh_emulator.requests_to("stream")) == 2
    assert not errors(events)


async def test_5xx_that_persists_ends_in_a_retryable_error(
    run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    fresh_emulator.faults.fail_next(503, path="*:streamQuery", count=5)
    events = await run_google("never served")
    (error,) = errors(events)
    assert error.retryable and error.provider == "google"
    assert "503" in error.message
    assert events[-1].stop_reason is StopReason.ERROR
    assert len(fresh_emulator.requests_to("stream")) == 3  # 1 + COPASS_ROUTER_GOOGLE_MAX_RETRIES
    assert "emulator-token" not in repr(events)


async def test_5xx_creating_the_session_is_retried(
    run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    fresh_emulator.faults.fail_next(500, path="*:query")
    events = await run_google("session after a 500")
    assert events[-1].stop_reason is StopReason.END_TURN
    assert len(fresh_emulator.requests_to("query")) == 2


async def test_stream_cut_mid_turn(run_google: Any, fresh_emulator: GoogleEmulator) -> None:
    fresh_emulator.faults.cut_stream(after_events=2)
    events = await run_google("/long 12")
    (error,) = errors(events)
    assert error.retryable and error.code == "connection_failed"
    assert events[-1].stop_reason is StopReason.ERROR
    assert fresh_emulator.streams.cut == 1
    # The session survives: the next turn on it works.
    after = await run_google("still here", session_id=events[0].session_id)
    assert after[-1].stop_reason is StopReason.END_TURN


async def test_in_band_error_frame(run_google: Any, fresh_emulator: GoogleEmulator) -> None:
    fresh_emulator.faults.error_event(after_events=1, status=500, message="agent crashed")
    events = await run_google("/long 6")
    (error,) = errors(events)
    assert "agent crashed" in error.message and error.retryable
    assert events[-1].stop_reason is StopReason.ERROR


async def test_model_error_event_from_adk(run_google: Any) -> None:
    events = await run_google("/error RESOURCE_EXHAUSTED model quota exhausted")
    (error,) = errors(events)
    assert (error.code, error.message, error.retryable) == (
        "rate_limited",
        "model quota exhausted",
        True,
    )
    assert events[-1].stop_reason is StopReason.ERROR


async def test_refusal_and_max_tokens_stop_reasons(run_google: Any) -> None:
    refused = await run_google("/refuse")
    cut = await run_google("/max_tokens")
    assert refused[-1].stop_reason is StopReason.REFUSAL
    assert cut[-1].stop_reason is StopReason.MAX_TOKENS


async def test_breaking_out_closes_the_stream_at_the_engine(
    google_router: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    stream = google_router.run(
        provider="google", reasoning_engine_id=engine, message="/slow 0.1 a b c d e f g h i j"
    )
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    for _ in range(300):  # the engine notices on its next write
        if fresh_emulator.streams.abandoned:
            break
        await asyncio.sleep(0.01)
    assert fresh_emulator.streams.abandoned == 1
    assert fresh_emulator.streams.completed == 0
