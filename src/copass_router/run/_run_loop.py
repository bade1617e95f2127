"""The per-event path of a run: stamp, record, middleware, and turning failures into events."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

import attrs

from copass_router._context_window import refused_turn
from copass_router._errors import ErrorCode
from copass_router._events import (
    Error,
    Event,
    Message,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
)
from copass_router._logs import get_logger, scrub
from copass_router._types import StopReason, TranscriptItem
from copass_router.accounting._metering import estimated_usage
from copass_router.content._support import history_refusal
from copass_router.provider_kit._backend import AgentBackend, Turn
from copass_router.provider_kit._retries import retry_delay
from copass_router.run._middleware_path import MiddlewarePath
from copass_router.run._nesting import FREE_FORM_EVENTS, event_too_deep
from copass_router.run._recorder import TurnRecorder
from copass_router.run._request_grammar import CLOSED_BY_USAGE, GRAMMAR_EVENTS, RequestGrammar
from copass_router.run._turn_errors import (
    as_exception,
    error_event,
    neutral_error,
    too_deep_error,
)
from copass_router.tools._tools import ToolContext

log = get_logger("copass_router.run")

# The per-event path asks for the task awaiting the backend on every event: on Python 3.11
# ``asyncio.current_task`` is a Python function around this dict lookup (a frame per event);
# from 3.12 it is C.
if sys.version_info < (3, 12):
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    _current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
        _current_tasks.get
    )
else:
    _current_task = asyncio.current_task

# Stamping sets two fields of a frozen event the router has just been handed: through the slots'
# own descriptors, half the cost of object.__setattr__ by name.
_set_run_id = Event.__dict__["run_id"].__set__
_set_seq = Event.__dict__["seq"].__set__


class Meter(Protocol):
    """Prices, records and budgets a model call's events (see :class:`~.metering.AttemptMeter`)."""

    def __call__(self, turn: Turn, event: Event, /) -> Awaitable[Event | None]:
        """``(turn, Usage | ToolCall) -> the event to pass on, or None (the turn stopped)``."""

    def before_request(self, turn: Turn, said: Sequence[TranscriptItem], /) -> Awaitable[bool]:
        """Before each model request: False when the budget lets it not be made."""


#: The events a :data:`Meter` sees.
METERED_EVENTS = (Usage, ToolCall)

#: Events that show a model request has produced output: after one, a failure is not retried.
OUTPUT_EVENTS = (TextDelta, ThinkingDelta, Message, ThinkingMessage, ToolCall, ToolResult)


class TurnRunner(MiddlewarePath):
    """Drives one backend turn and hands out its events, stamped and passed through middleware."""

    def __init__(
        self,
        turn: Turn,
        backend: AgentBackend,
        context: ToolContext,
        middleware: Sequence[Callable[..., Any]],
        timeout: float | None,
        meter: Meter | None = None,
        recorder: TurnRecorder | None = None,
    ) -> None:
        super().__init__(middleware, context)
        self.turn = turn
        self.recorder = TurnRecorder() if recorder is None else recorder
        self._backend = backend
        self._timeout = timeout
        self._meter = meter
        self._seq = 0
        self._agen: AsyncGenerator[Event] | None = None
        self._waiting: asyncio.Task[Any] | None = None
        self._interrupted = False
        self._grammar = RequestGrammar()
        self._ended = False  # the stream ended with the model request it had closed
        self._unsent = False  # the budget stopped the turn before its next request was sent
        turn._on_stop = self._interrupt

    def _interrupt(self) -> None:
        # The core asked the turn to stop (e.g. the tool-round cap, reached through a dispatch
        # callback) while the backend may be waiting on its provider: wake it with a cancel that
        # ``events`` recognises and absorbs.
        task = self._waiting
        # From inside the backend's own step the backend sees ``stop_requested`` itself.
        if task is not None and not self._interrupted and task is not asyncio.current_task():
            self._interrupted = True
            task.cancel()

    def _stamp(self, event: Event) -> Event:
        seq = self._seq
        self._seq = seq + 1
        if event.run_id:  # an event object seen before: never mutate what others may hold
            return attrs.evolve(event, run_id=self.turn.run_id, seq=seq)
        _set_run_id(event, self.turn.run_id)
        _set_seq(event, seq)
        return event

    async def bookend(self, event: Event) -> Event:
        """Stamp ``RunStarted``/``RunFinished`` and pass them through middleware (no drop)."""
        event = self._stamp(event)
        if self._middleware:
            return await self._processed(event) or event
        return event

    async def events(self) -> AsyncGenerator[Event]:
        """The backend's events (and those emitted on the turn's side channel), in order.

        The stream keeps its grammar whatever the backend does: an in-band error the table
        calls retryable, before any output and as the backend's last word, is retried like a
        raised one; text after the usage that closed a model request is refused (the turn
        ends with an error naming the backend); a request the backend ended without usage is
        closed by a ``Usage`` marked ``not_reported``.
        """
        turn, record, middleware, meter = (
            self.turn, self.recorder.record, self._middleware, self._meter
        )  # fmt: skip
        filtered, chains, grammar = self._filtered, self._chains, self._grammar
        event: Event | None
        agen = self._agen = turn_events(self._backend, turn)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout if self._timeout else None
        failure: Error | None = None
        timed_out = False
        held: Error | None = None  # a retryable in-band error before output, not yet shown
        produced = False
        current_task = _current_task
        while turn.stop_requested is None:
            if grammar.fresh and meter is not None:  # a model request is next: reserve it
                grammar.fresh = False
                if not await meter.before_request(turn, self.recorder.items):
                    self._unsent = True
                    turn.request_stop(StopReason.BUDGET)
                    break
            # The task awaiting the backend, for _interrupt: asked per event, since a consumer
            # may change tasks (passing the loop spares Python 3.11 looking it up again).
            self._waiting = current_task(loop)
            earlier = 0
            try:
                try:
                    if deadline is None:
                        event = await agen.__anext__()
                    else:
                        event = await self._next_by(agen, deadline)
                    # What was emitted while the backend waited comes before its event; what
                    # the meter's await lets in (a tool result) comes after it. Inside
                    # Turn.merge the backend streams the emitted events itself, in order.
                    earlier = len(turn._side) if turn._wake is None else 0
                    if meter is not None and type(event) in METERED_EVENTS:
                        event = await meter(turn, event)  # None: the meter stopped the turn
                finally:
                    self._waiting = None
            except StopAsyncIteration:
                if held is None:
                    break
                exc: Exception = as_exception(held, turn.provider)
                delay = self._retry_delay(exc, deadline)
                if delay is None:
                    break  # the held error is told with the turn's end
                held = None
                async for out in self._restart(agen, exc, delay):
                    yield out
                agen = self._agen = turn_events(self._backend, turn)
                continue
            except asyncio.CancelledError:
                if self._absorb_interrupt():
                    break
                raise
            except TimeoutError:
                timed_out = True
                failure = Error(
                    code=ErrorCode.TIMEOUT.value,
                    message=f"the turn took longer than {self._timeout:g} s",
                    retryable=True,
                    provider=turn.provider,
                )
                break
            except Exception as exc:
                delay = None if produced else self._retry_delay(exc, deadline)
                if delay is None:
                    log.warning("turn_failed", run_id=turn.run_id, error=scrub(repr(exc)))
                    failure = error_event(exc, turn.provider)
                    break
                async for out in self._restart(agen, exc, delay):
                    yield out
                agen = self._agen = turn_events(self._backend, turn)
                continue
            if held is not None:  # the backend went on after it: the error is shown
                shown: list[Event] = [held]
                held = None
                async for out in self._emit(shown):
                    yield out
            if earlier:
                async for out in self._emit(turn.drain(earlier)):
                    yield out
            if event is None:
                continue  # over budget: the turn ends before the call's tools run
            cls = type(event)
            if (event.provider_data is not None or cls in FREE_FORM_EVENTS) and event_too_deep(
                event
            ):
                failure = too_deep_error(event, turn)
                break
            if cls is Error:
                error = neutral_error(event)  # type: ignore[arg-type]
                if not produced and error.retryable and held is None:
                    held = error
                    continue  # retried if it is the backend's last word
                event = error
            elif not produced and isinstance(event, OUTPUT_EVENTS):
                produced = True
            if cls in GRAMMAR_EVENTS and (broken := grammar.note(event)) is not None:
                failure = self._contract_error(broken)
                break
            event = self._stamp(event)
            record(event)
            if middleware:
                chain: tuple[Callable[..., Any], ...] | None = middleware
                if filtered:  # _chain, with the common case inlined: the per-event path
                    chain = chains.get(type(event))
                    if chain is None or event.seq <= 1:
                        chain = self._chain(event)
                if chain:
                    processed = self._apply(event, chain)  # as _processed, minus a coroutine
                    if processed is not None and not isinstance(processed, Event):
                        processed = await processed
                    if processed is not None:
                        yield processed
                    continue
            yield event
        if turn.stop_requested is not None:
            await agen.aclose()  # cancels the provider's turn before the run's end is told
            turn.stop_reason = turn.stop_requested
        pending = turn.drain()
        if turn.stop_requested is not None or timed_out:
            pending.extend(await self._charge_unreported())
        self._ended = True
        if held is not None:
            pending.append(held)
        if failure is not None:
            turn.stop_reason = StopReason.ERROR
            pending.append(failure)
        elif turn.stop_requested is None and turn.stop_reason in CLOSED_BY_USAGE:
            pending.extend(grammar.unclosed(self._backend))
        async for out in self._emit(pending):
            yield out

    async def _restart(
        self, agen: AsyncGenerator[Event], exc: Exception, delay: float
    ) -> AsyncGenerator[Event]:
        """Announce a retry of the turn, close the failed attempt and wait ``delay`` s."""
        notice = self.turn.note_retry(exc, delay)  # type: ignore[arg-type]
        async for out in self._emit([notice]):
            yield out
        await agen.aclose()
        await asyncio.sleep(delay)
        self.turn.stop_reason = StopReason.END_TURN

    def _contract_error(self, broken: str) -> Error:
        backend = f"{type(self._backend).__module__}.{type(self._backend).__qualname__}"
        log.error("backend_broke_stream_contract", run_id=self.turn.run_id, backend=backend)
        return Error(
            code=ErrorCode.INTERNAL_ERROR.value,
            message=f"provider {self.turn.provider!r} broke the stream's grammar: {broken}; "
            f"this is a bug in its backend ({backend})",
            provider=self.turn.provider,
        )

    async def _next_by(self, agen: AsyncGenerator[Event], deadline: float) -> Event:
        async with asyncio.timeout_at(deadline):
            return await agen.__anext__()

    def _absorb_interrupt(self) -> bool:
        """Whether a CancelledError that ended the wait for the backend is ``_interrupt``'s own
        cancel (absorbed: the turn stops) rather than a cancel of the run (re-raised)."""
        task = asyncio.current_task()
        return self._interrupted and task is not None and task.uncancel() == 0

    def _retry_delay(self, exc: Exception, deadline: float | None) -> float | None:
        """Seconds to wait before running the turn again after ``exc`` (None: not retried)."""
        delay = retry_delay(self.turn.retry_policy, exc, self.turn.retries)
        late = deadline is not None and delay is not None
        if late and asyncio.get_running_loop().time() + delay >= deadline:  # type: ignore[operator]
            return None
        return delay

    async def _emit(self, events: list[Event]) -> AsyncGenerator[Event]:
        for event in events:
            if type(event) is Error:
                event = neutral_error(event)
            elif type(event) in GRAMMAR_EVENTS:
                self._grammar.note(event)
            event = self._stamp(event)
            self.recorder.record(event)
            if not self._middleware:
                yield event
            elif (processed := await self._processed(event)) is not None:
                yield processed

    async def _charge_unreported(self) -> list[Event]:
        """The estimated, metered ``Usage`` of a model request cut before its usage came (a
        cancel, a stop, a timeout), or nothing: no model call goes unmetered."""
        grammar, meter = self._grammar, self._meter
        if meter is None or self._unsent or not grammar.in_flight(self.turn.stop_requested):
            return []
        usage = estimated_usage(self.turn, self.recorder.items, grammar.streamed)
        grammar.closed, grammar.open_output, grammar.streamed = True, False, 0
        charged = await meter(self.turn, usage)
        return [] if charged is None else [charged]

    async def aclose(self) -> None:
        """Close the backend's generator (its cleanup cancels the provider's turn); a request
        it left without usage (the consumer left, the run was cancelled) is charged."""
        if self._agen is not None:
            await self._agen.aclose()
        if not self._ended:
            self._ended = True
            for usage in await self._charge_unreported():
                self.recorder.record(usage)


def turn_events(backend: AgentBackend, turn: Turn) -> AsyncGenerator[Event]:
    """The backend's event generator for ``turn`` (one that raises the refusal when the
    turn's history holds a part the backend cannot take)."""
    refusal = history_refusal(turn.provider, turn.history, backend.part_support, turn.parts)
    if refusal is not None:
        return _raising(refusal)
    agen = backend.run_turn(turn) if turn.refusal is None else refused_turn(turn)
    if not inspect.isasyncgen(agen):
        raise TypeError(f"{type(backend).__name__}.run_turn must be an async generator")
    return cast(AsyncGenerator[Event], agen)


async def _raising(exc: Exception) -> AsyncGenerator[Event]:
    raise exc
    yield  # an async generator
