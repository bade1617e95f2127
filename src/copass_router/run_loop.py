"""The per-event path of a run: stamp, record, middleware, and turning failures into events."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, cast

import attrs

from .backend import AgentBackend, Turn
from .errors import ProviderError, RouterError
from .events import Error, Event
from .logs import get_logger, scrub
from .nesting import MAX_DEPTH, event_too_deep
from .recorder import TurnRecorder
from .tools import ToolContext
from .types import StopReason

log = get_logger("copass_router.run")


def error_event(exc: BaseException, provider: str) -> Error:
    """The neutral Error event for an exception raised while a turn ran."""
    message = scrub(str(exc)) or type(exc).__name__
    if isinstance(exc, ProviderError):
        detail = {**exc.detail, "status": exc.status, "request_id": exc.request_id}
        return Error(
            code=exc.code,
            message=message,
            retryable=exc.retryable,
            provider=exc.provider,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    if isinstance(exc, RouterError):
        return Error(code=exc.code, message=message, retryable=exc.retryable, provider=provider)
    # An unexpected exception's name and text are for the operator (logged as turn_failed).
    return Error(
        code="backend_error",
        message="the provider backend failed; the operator's log has the details",
        provider=provider,
    )


def _too_deep_error(event: Event, turn: Turn) -> Error:
    # Sent as it is, the event would cut the stream (RecursionError while serialising) and
    # leave the turn unrecorded; the turn stops here instead.
    log.warning("event_too_deep", run_id=turn.run_id, event_type=event.type)
    return Error(
        code="payload_too_large",
        message=f"a {event.type} event nested deeper than {MAX_DEPTH} levels; the turn was stopped",
        provider=turn.provider,
    )


class TurnRunner:
    """Drives one backend turn and hands out its events, stamped and passed through middleware."""

    def __init__(
        self,
        turn: Turn,
        backend: AgentBackend,
        context: ToolContext,
        middleware: Sequence[Callable[..., Any]],
        timeout: float | None,
    ) -> None:
        self.turn = turn
        self.recorder = TurnRecorder()
        self._backend = backend
        self._context = context
        self._middleware = tuple(middleware)
        self._timeout = timeout
        self._seq = 0
        self._agen: AsyncGenerator[Event] | None = None

    def _stamp(self, event: Event) -> Event:
        seq = self._seq
        self._seq = seq + 1
        if event.run_id:  # an event object seen before: never mutate what others may hold
            return attrs.evolve(event, run_id=self.turn.run_id, seq=seq)
        object.__setattr__(event, "run_id", self.turn.run_id)
        object.__setattr__(event, "seq", seq)
        return event

    async def _apply(self, event: Event) -> Event | None:
        current: Any = event
        for fn in self._middleware:
            current = fn(current, self._context)
            # An Event passes straight on; anything else must be an async middleware's
            # awaitable (cheaper than inspect.isawaitable on every event).
            if current is not None and not isinstance(current, Event):
                current = await current
            if current is None:
                return None
        result: Event = current
        return result

    async def bookend(self, event: Event) -> Event:
        """Stamp ``RunStarted``/``RunFinished`` and pass them through middleware (no drop)."""
        event = self._stamp(event)
        if self._middleware:
            return await self._apply(event) or event
        return event

    async def events(self) -> AsyncGenerator[Event]:
        """The backend's events (and those emitted on the turn's side channel), in order."""
        turn, record, middleware = self.turn, self.recorder.record, self._middleware
        agen = self._agen = turn_events(self._backend, turn)
        deadline = None
        if self._timeout:
            deadline = asyncio.get_running_loop().time() + self._timeout
        failure: Error | None = None
        while True:
            try:
                if deadline is None:
                    event = await agen.__anext__()
                else:
                    async with asyncio.timeout_at(deadline):
                        event = await agen.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                failure = Error(
                    code="timeout",
                    message=f"the turn took longer than {self._timeout:g} s",
                    retryable=True,
                    provider=turn.provider,
                )
                break
            except Exception as exc:
                log.warning("turn_failed", run_id=turn.run_id, error=scrub(repr(exc)))
                failure = error_event(exc, turn.provider)
                break
            if event_too_deep(event):
                failure = _too_deep_error(event, turn)
                break
            if turn._side:
                for side in turn.drain():
                    side = self._stamp(side)
                    record(side)
                    if not middleware:
                        yield side
                    elif (processed := await self._apply(side)) is not None:
                        yield processed
            event = self._stamp(event)
            record(event)
            if middleware:
                processed = await self._apply(event)
                if processed is not None:
                    yield processed
                continue
            yield event
        pending = turn.drain()
        if failure is not None:
            turn.stop_reason = StopReason.ERROR
            pending.append(failure)
        for event in pending:
            event = self._stamp(event)
            record(event)
            if not middleware:
                yield event
            elif (processed := await self._apply(event)) is not None:
                yield processed

    async def aclose(self) -> None:
        """Close the backend's generator (its cleanup cancels the provider's turn)."""
        if self._agen is not None:
            await self._agen.aclose()


def turn_events(backend: AgentBackend, turn: Turn) -> AsyncGenerator[Event]:
    """The backend's event generator for ``turn``."""
    agen = backend.run_turn(turn)
    if not inspect.isasyncgen(agen):
        raise TypeError(f"{type(backend).__name__}.run_turn must be an async generator")
    return cast(AsyncGenerator[Event], agen)
