"""One hosted run: the router's event stream pumped in its own task and framed as SSE.

The router's generator is driven from a single task for its whole life (a backend may hold
task-bound state, such as an HTTP stream, across yields), and the run's recorder
(:mod:`.hosted_run`) reads what it produces from a queue and writes each frame to the run's log,
which every response follows; so no step of the turn depends on a client being connected.
Cancelling that task is how a turn is stopped by a server that is shutting down; the router
records the turn as cancelled and the backend cancels it at the provider.

The queue is bounded: when the recorder falls behind, the pump waits, and so does the turn, so
no run holds more than ``QUEUE_EVENTS`` unrecorded events in memory. The recorder in turn waits
for the connection that started the run while it is open (a slow reader slows its own run);
once that client has left, the run goes on and its log keeps a bounded window (:mod:`.run_log`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from copass_router._errors import RouterError
from copass_router._events import Error, Event, RunFinished, RunStarted, Usage
from copass_router._logs import get_logger, scrub
from copass_router._types import StopReason, TokenCounts
from copass_router.server._sse import encode_event
from copass_router.serving._problems import ShuttingDownError

log = get_logger("copass_router.server")

_END = object()  # the router's stream ended on its own
_STOPPED = object()  # the pump was cancelled
_WAKE = object()  # the pump has ended: look at its outcome

# Events a run may have produced and its client not yet read. A full queue pauses the turn: a
# slow reader slows its own run, and a run can never hold more than this many events in memory.
QUEUE_EVENTS = 256
YIELD_EVERY = 32


class RunStream:
    """The live state of one streamed run.

    :param events: the generator ``Router.run`` returned (not started yet).
    :param heartbeat: seconds of quiet before a heartbeat comment is sent.
    """

    def __init__(
        self, events: AsyncGenerator[Event], heartbeat: float, queue_events: int = QUEUE_EVENTS
    ) -> None:
        self._events = events
        self._heartbeat = heartbeat
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_events)
        # How the pump ended (_END, _STOPPED or an exception). It is kept beside the queue, not
        # in it, so ending never waits for room in a queue nobody may read any more.
        self._outcome: object = None
        self._task: asyncio.Task[None] | None = None
        self._last: Event | None = None
        self._usage = TokenCounts()
        self.started: RunStarted | None = None
        self.closed = asyncio.Event()

    @property
    def run_id(self) -> str:
        """The run's id (empty until the first event arrived)."""
        return self.started.run_id if self.started else ""

    async def start(self) -> RunStarted:
        """Start the turn and wait for its first event.

        Errors the router raises before the stream starts (unknown provider or session, busy
        session...) are raised here, so they can be answered as a problem response.
        """
        self._task = asyncio.create_task(self._pump())
        try:
            first = await self._queue.get()
        except BaseException:
            await self.aclose()
            raise
        if first is _WAKE:
            first = self._outcome
        if isinstance(first, BaseException):
            await self.aclose()
            raise first
        if first is _STOPPED:
            await self.aclose()
            raise ShuttingDownError()
        if not isinstance(first, RunStarted):
            await self.aclose()
            raise RuntimeError(f"a run must start with run_started, not {first!r:.80}")
        self.started = first
        self._last = first
        return first

    async def _pump(self) -> None:
        try:
            count = 0
            async for event in self._events:
                await self._queue.put(event)  # waits while the client is behind
                count += 1
                if not count % YIELD_EVERY:
                    # A backend that never waits (output already in memory) would otherwise
                    # hold the loop until the queue fills, and every other client with it.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            self._end(_STOPPED)
            raise
        except Exception as exc:
            self._end(exc)
        else:
            self._end(_END)
        finally:
            await self._events.aclose()

    def _end(self, outcome: object) -> None:
        self._outcome = outcome
        # A reader waiting on an empty queue needs waking; a full queue has a reader that will
        # find the outcome once it has read what is queued.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_WAKE)

    async def _next(self) -> Any:
        """The next queued event, the pump's outcome once the queue is empty, or None (quiet)."""
        try:
            item = self._queue.get_nowait()  # the busy path: no timer, no task
        except asyncio.QueueEmpty:
            if self._outcome is not None:
                return self._outcome
            try:
                async with asyncio.timeout(self._heartbeat):
                    item = await self._queue.get()
            except TimeoutError:
                return None
        if item is _WAKE:
            return self._outcome
        return item

    async def encoded(self) -> AsyncIterator[tuple[Event, bytes]]:
        """Every event with its SSE frame, from ``run_started``, with exactly one end."""
        if self.started is not None:
            yield self.started, encode_event(self.started)
        while True:
            item = await self._next()
            if item is None:
                continue  # quiet: the responses, which follow the log, send the heartbeats
            if item is _END:
                return
            if item is _STOPPED or isinstance(item, BaseException):
                for event in self._endings(item):
                    yield event, encode_event(event)
                return
            try:
                frame = encode_event(item)
            except (RecursionError, TypeError, ValueError) as exc:
                # The router checks events' values; this is the last guard, so a stream is
                # never cut mid-frame: the client gets an error and a run_finished instead.
                log.error("event_not_sent", run_id=self.run_id, type=item.type, error=repr(exc))
                self._cancel()
                for event in self._endings(exc):
                    yield event, encode_event(event)
                return
            self._note(item)
            yield item, frame

    def _note(self, event: Event) -> None:
        self._last = event
        if isinstance(event, Usage):
            self._usage += event.as_token_usage()

    def _endings(self, item: object) -> list[Event]:
        """The Error and RunFinished that close a stream the router could not close itself."""
        if item is _STOPPED:
            reason = StopReason.CANCELLED
            error = Error(
                code="shutting_down",
                retryable=True,
                message="the router is shutting down; the turn was cancelled",
            )
        else:
            reason = StopReason.ERROR
            if isinstance(item, RouterError):
                error = Error(code=item.code, message=scrub(str(item)), retryable=item.retryable)
            else:
                log.error("run_failed", run_id=self.run_id, error=scrub(repr(item)))
                error = Error(
                    code="internal_error",
                    message="the router failed; the operator's log has the details",
                )
        seq = self._last.seq + 1 if self._last else 1
        session_id = self.started.session_id if self.started else ""
        return [
            _stamped(error, self.run_id, seq),
            _stamped(
                RunFinished(stop_reason=reason, usage=self._usage, session_id=session_id),
                self.run_id,
                seq + 1,
            ),
        ]

    def stop(self) -> None:
        """Cancel the turn because the server is shutting down (the client gets told)."""
        self._cancel()

    async def aclose(self) -> None:
        """Cancel the turn if it still runs and wait until the router has recorded it."""
        task = self._task
        if task is not None:
            self._cancel()
            await asyncio.wait({task})
        self.closed.set()

    def _cancel(self) -> None:
        task = self._task
        # Once only: a second cancel would interrupt the router recording the cancelled turn.
        if task is not None and not task.done() and not task.cancelling():
            task.cancel()


def _stamped(event: Event, run_id: str, seq: int) -> Event:
    # Same stamping the router does; the event is fresh, so nobody else holds it.
    object.__setattr__(event, "run_id", run_id)
    object.__setattr__(event, "seq", seq)
    return event


class StreamingRuns:
    """The runs a server is streaming, so shutdown can wait for them and then cancel them."""

    def __init__(self) -> None:
        self._runs: set[RunStream] = set()
        self.accepting = True

    def __len__(self) -> int:
        return len(self._runs)

    def streams(self) -> list[RunStream]:
        """The runs being streamed now."""
        return list(self._runs)

    def add(self, run: RunStream) -> None:
        """Track ``run`` until its response has ended."""
        self._runs.add(run)

    def discard(self, run: RunStream) -> None:
        """Stop tracking ``run``."""
        self._runs.discard(run)

    async def drain(self, grace: float, flush: float = 5.0) -> None:
        """Refuse new runs, give running turns ``grace`` seconds, then cancel the rest.

        A cancelled run's client still receives ``Error(shutting_down)`` and
        ``RunFinished(cancelled)``; ``flush`` bounds the wait for those last frames.
        """
        self.accepting = False
        if self._runs:
            log.info("draining", runs=len(self._runs), grace=grace)
            await _wait_closed(self._runs, grace)
        if self._runs:
            log.warning("cancelling_runs", runs=len(self._runs))
            for run in list(self._runs):
                run.stop()
            await _wait_closed(self._runs, flush)


async def _wait_closed(runs: set[RunStream], seconds: float) -> None:
    waiters = [asyncio.ensure_future(run.closed.wait()) for run in list(runs)]
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0))
    finally:
        for waiter in waiters:
            waiter.cancel()
