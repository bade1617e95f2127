"""The load: N slots, each running streaming turns back to back until the deadline.

A slot plays one end user holding a conversation: ``TURNS_PER_SESSION`` turns in a session
(text, a tool call, text, ``/recall``, text), then it deletes the session and starts another,
so the worker's store stays bounded and memory growth means a leak, not more data. Every turn
is checked: ``run_started`` first, ``run_finished`` with ``end_turn`` last, no ``error`` event,
and the tool turn's result is not an error. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import attrs

from copass_router import (
    Error,
    Event,
    RemoteRouter,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    ToolResult,
)

TURNS_PER_SESSION = 5
RUN_TIMEOUT = 120.0  # one turn, start to finish, however loaded the machine is
DELETE_TIMEOUT = RUN_TIMEOUT  # a saturated worker is as slow to delete as to start a turn


def script(words: float) -> list[str]:
    """A session's turns; ``words`` is the pause before each streamed word, in seconds."""
    slow = f"/slow {words:g}"
    return [
        f"{slow} soak turn one of a session",
        '/tool lookup {"key": "soak"}',
        f"{slow} soak turn three of a session",
        "/recall",
        f"{slow} soak turn five of a session",
    ]


@attrs.define
class Tally:
    """What the slots did, shared by all of them (one event loop, so no locks)."""

    runs: int = 0
    errors: int = 0
    deletes: int = 0
    error_kinds: Counter[str] = attrs.field(factory=Counter)
    first_event_ms: list[float] = attrs.field(factory=list)
    turn_ms: list[float] = attrs.field(factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind[:160]] += 1


def _root(exc: BaseException) -> BaseException:
    """The innermost cause of ``exc`` (e.g. the socket error under an httpx error)."""
    for _ in range(10):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _check(events: list[Event], tool_turn: bool) -> str | None:
    """What is wrong with a finished turn's events, or None."""
    if not events or not isinstance(events[0], RunStarted):
        return "the stream did not start with run_started"
    last = events[-1]
    if not isinstance(last, RunFinished):
        return "the stream did not end with run_finished"
    errors = [e for e in events if isinstance(e, Error)]
    if errors:
        return f"error event {errors[0].code}: {errors[0].message}"
    if last.stop_reason is not StopReason.END_TURN:
        return f"stop_reason {last.stop_reason.value}"
    if tool_turn:
        results = [e for e in events if isinstance(e, ToolResult)]
        if len(results) != 1 or results[0].is_error:
            return "the tool turn had no good tool result"
    elif not any(isinstance(e, TextDelta) for e in events):
        return "no text was streamed"
    return None


async def _turn(
    remote: RemoteRouter,
    tally: Tally,
    provider: str,
    message: str,
    end_user: str,
    session_id: str | None,
) -> str | None:
    """Run one turn; its session id, or None if it failed (the failure is tallied)."""
    events: list[Event] = []
    start = time.perf_counter()
    tally.in_flight += 1
    tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            async for event in remote.run(
                provider=provider, message=message, end_user_id=end_user, session_id=session_id
            ):
                if not events:
                    tally.first_event_ms.append((time.perf_counter() - start) * 1000)
                events.append(event)
    except TimeoutError:
        tally.fail(f"turn over {RUN_TIMEOUT:g} s")
        return None
    except Exception as exc:
        tally.fail(f"{type(exc).__name__}: {exc} (root cause: {_root(exc)!r})")
        return None
    finally:
        tally.in_flight -= 1
    problem = _check(events, tool_turn=message.startswith("/tool"))
    if problem is not None:
        tally.fail(problem)
        return None
    tally.runs += 1
    tally.turn_ms.append((time.perf_counter() - start) * 1000)
    started = events[0]
    assert isinstance(started, RunStarted)
    return started.session_id


async def _delete(remote: RemoteRouter, tally: Tally, session_id: str, end_user: str) -> None:
    try:
        async with asyncio.timeout(DELETE_TIMEOUT):
            await remote.delete_session(session_id, end_user)
        tally.deletes += 1
    except Exception as exc:
        tally.fail(f"delete: {type(exc).__name__}: {exc} (root cause: {_root(exc)!r})")


async def slot(
    remote: RemoteRouter,
    tally: Tally,
    provider: str,
    index: int,
    deadline: float,
    turns: list[str],
) -> None:
    """One end user's conversations, back to back, until ``deadline`` (loop time)."""
    loop = asyncio.get_running_loop()
    end_user = f"soak-{index}"
    session_id: str | None = None
    done = 0
    while loop.time() < deadline:
        message = turns[done % len(turns)]
        session_id = await _turn(remote, tally, provider, message, end_user, session_id)
        done = done + 1 if session_id else 0
        if session_id is not None and done == len(turns):
            await _delete(remote, tally, session_id, end_user)
            session_id, done = None, 0
    if session_id is not None:
        await _delete(remote, tally, session_id, end_user)
