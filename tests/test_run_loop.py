"""The per-event path: middleware chains mixing sync and async, stop requests, Turn.merge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from copass_router import (
    Error,
    Event,
    Message,
    Retry,
    RetryPolicy,
    Router,
    RunFinished,
    RunRequest,
    RunStarted,
    StopReason,
    TextDelta,
    TranscriptTurn,
    Turn,
    Usage,
    hookimpl,
)
from copass_router.testing import ScriptedBackend


def _middleware(name: str, seen: list[tuple[str, str]], *, is_async: bool, drop: str) -> object:
    """A middleware that notes each text it sees, drops those containing ``drop`` and tags the
    rest with ``name``; sync or async."""

    def step(event: Event) -> Event | None:
        if not isinstance(event, TextDelta):
            return event
        seen.append((name, event.text))
        if drop and drop in event.text:
            return None
        return attrs.evolve(event, text=event.text + name)

    if is_async:

        class Async:
            @hookimpl
            async def copass_router_process_event(self, event: Event) -> Event | None:
                await asyncio.sleep(0)
                return step(event)

        return Async()

    class Sync:
        @hookimpl
        def copass_router_process_event(self, event: Event) -> Event | None:
            return step(event)

    return Sync()


@pytest.mark.parametrize("kinds", ["sss", "sas", "ass", "ssa", "aaa"])
async def test_a_chain_of_sync_and_async_middleware_runs_in_order_and_drops(
    make_router: Callable[..., Router], kinds: str
) -> None:
    seen: list[tuple[str, str]] = []
    # A drops what contains "x", B what contains "y", C nothing
    plugins = [
        _middleware(name, seen, is_async=kind == "a", drop=drop)
        for name, kind, drop in zip("ABC", kinds, ("x", "y", ""), strict=True)
    ]
    router = make_router(plugins=plugins)
    events = [e async for e in router.run(provider="echo", message="/slow 0 ax by c")]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    # echo streams "echo: ", "ax ", "by ", "c" (one delta per word)
    assert "".join(texts) == "echo: ABCcABC"
    assert [n for n, t in seen if "x" in t] == ["A"]  # dropped by A: B and C never see it
    assert [n for n, t in seen if "y" in t] == ["A", "B"]  # dropped by B: C never sees it
    assert [(n, t) for n, t in seen if "c" in t and "echo" not in t] == [
        ("A", "c"),
        ("B", "cA"),
        ("C", "cAB"),
    ]  # each sees its predecessor's output
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert [e.seq for e in events] == sorted(e.seq for e in events)


async def test_an_async_middleware_that_returns_a_non_event_fails_the_run_not_silently(
    make_router: Callable[..., Router],
) -> None:
    class Broken:
        @hookimpl
        def copass_router_process_event(self, event: Event) -> Any:
            return "not an event"  # neither an Event, None nor an awaitable

    router = make_router(plugins=[Broken()])
    with pytest.raises(TypeError):
        _ = [e async for e in router.run(provider="echo", message="hi")]


@pytest.mark.parametrize("new_task_per_event", [False, True])
async def test_a_stop_requested_while_the_backend_waits_wakes_the_task_reading_the_run(
    scripted_router: Router, scripted_backend: ScriptedBackend, new_task_per_event: bool
) -> None:
    # The core stops a turn (e.g. the tool-round cap, reached through a dispatch callback)
    # while the backend waits on its provider: the wait is cancelled, the turn ends with that
    # reason, and a consumer that reads each event from a fresh task is woken all the same.
    scripted_backend.enqueue(TextDelta(text="a"), hang=True)
    stream = scripted_router.run(provider="scripted", message="go")
    events: list[Event] = []
    async with asyncio.timeout(10):  # a stop that never wakes the wait fails, not hangs
        while True:
            step = anext(stream)
            try:
                event = await (asyncio.wait_for(step, 5) if new_task_per_event else step)
            except StopAsyncIteration:
                break
            events.append(event)
            if isinstance(event, TextDelta):
                turn = scripted_backend.turns[-1]
                loop = asyncio.get_running_loop()
                loop.call_later(0.05, turn.request_stop, StopReason.TOOL_LIMIT)
    assert isinstance(events[-1], RunFinished)
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT
    assert scripted_backend.cancelled == 1
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def _turn() -> Turn:
    async def history() -> list[TranscriptTurn]:
        return []

    return Turn(
        request=RunRequest(provider="p", message="m"),
        run_id="r",
        session_id="s",
        model="m",
        history=(),
        binding=None,
        tools=(),
        dispatch=lambda _turn, _calls: _nothing(),
        load_history=history,
    )


async def _nothing() -> AsyncIterator[Event]:
    return
    yield


async def test_merge_shows_emitted_events_while_the_source_is_quiet_and_stops_on_request() -> None:
    turn = await _turn()
    quiet = asyncio.Event()
    closed = asyncio.Event()

    async def source() -> AsyncIterator[Event]:
        try:
            yield TextDelta(text="first")
            await quiet.wait()  # a provider stream gone quiet while a tool runs elsewhere
            yield TextDelta(text="never")
        finally:
            closed.set()

    seen: list[str] = []
    async with asyncio.timeout(10):
        async for event in turn.merge(source()):
            assert isinstance(event, TextDelta)
            seen.append(event.text)
            if event.text == "first":
                turn.emit(TextDelta(text="side 1"))
                turn.emit(TextDelta(text="side 2"))
            elif event.text == "side 2":
                asyncio.get_running_loop().call_later(
                    0.01, turn.request_stop, StopReason.TOOL_LIMIT
                )
    assert seen == ["first", "side 1", "side 2"]
    assert closed.is_set()  # the quiet source was closed, not left waiting


async def test_merge_hands_on_the_sources_failure() -> None:
    turn = await _turn()

    async def source() -> AsyncIterator[Event]:
        yield TextDelta(text="a")
        raise RuntimeError("stream broke")

    seen = []
    with pytest.raises(RuntimeError, match="stream broke"):
        async for event in turn.merge(source()):
            seen.append(event)
    assert len(seen) == 1


async def test_text_after_the_usage_that_closed_the_request_is_refused(
    scripted_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(
        TextDelta(text="answer"), Usage(input_tokens=3, output_tokens=1), TextDelta(text="late")
    )
    events = [e async for e in scripted_router.run(provider="scripted", message="hi")]
    assert "late" not in "".join(e.text for e in events if isinstance(e, TextDelta))
    error = next(e for e in events if isinstance(e, Error))
    assert error.code == "internal_error" and "ScriptedBackend" in error.message
    assert events[-1].stop_reason is StopReason.ERROR  # type: ignore[attr-defined]
    turns = await scripted_router.transcript(events[0].session_id, "local")  # type: ignore[attr-defined]
    assert "late" not in str(turns[-1].items)


async def test_a_request_ended_without_usage_is_closed_by_the_core(
    scripted_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(TextDelta(text="answer"), Message(text="answer"))
    events = [e async for e in scripted_router.run(provider="scripted", message="hi")]
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].provider_data == {
        "copass_router": {"usage": "not_reported"}
    }
    assert isinstance(events[-2], Usage) and events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", ["rate_limited", "rate_limit_error", "overloaded"])
async def test_a_retryable_in_band_error_before_output_is_retried(
    scripted_router: Router, scripted_backend: ScriptedBackend, code: str
) -> None:
    scripted_router.retry_policy = RetryPolicy(initial_delay=0.0, jitter=False)
    scripted_backend.enqueue(
        Error(code=code, message="slow down", retryable=False), stop_reason=StopReason.ERROR
    )
    scripted_backend.enqueue(TextDelta(text="ok"), Message(text="ok"), Usage(output_tokens=1))
    events = [e async for e in scripted_router.run(provider="scripted", message="hi")]
    retries = [e for e in events if isinstance(e, Retry)]
    assert len(retries) == 1 and retries[0].code in {"rate_limited", "overloaded"}
    assert not any(isinstance(e, Error) for e in events)
    assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]


async def test_an_in_band_error_gets_the_tables_code_and_retryable(
    scripted_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(
        TextDelta(text="partial"),
        Error(code="authentication_error", message="bad key", retryable=True),
        stop_reason=StopReason.ERROR,
    )
    events = [e async for e in scripted_router.run(provider="scripted", message="hi")]
    error = next(e for e in events if isinstance(e, Error))
    assert (error.code, error.retryable) == ("authentication_failed", False)
    assert error.detail == {"provider_code": "authentication_error"}
