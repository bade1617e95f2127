"""One hosted run: the router's event stream pumped in its own task.

The router's generator is driven from a single task for its whole life (a backend may hold
task-bound state, such as an HTTP stream, across yields), and the run's recorder
(:mod:`.hosted_run`) reads what it produces from a queue and writes it to the run's log, which
the responses follow; so no step of the turn depends on a client being connected. Cancelling
that task is how a turn is stopped by a server that is shutting down; the router records the
turn as cancelled and the backend cancels it at the provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ..errors import RouterError
from ..events import Error, Event, RunFinished, RunStarted, Usage
from ..logs import get_logger, scrub
from ..types import StopReason, TokenUsage
from .problems import ShuttingDownError

log = get_logger("copass_router.server")

_END = object()  # the router's stream ended on its own
_STOPPED = object()  # the pump was cancelled


class RunStream:
    """The live state of one streamed run.

    :param events: the generator ``Router.run`` returned (not started yet).
    """

    def __init__(self, events: AsyncGenerator[Event]) -> None:
        self._events = events
        # Unbounded on purpose: a turn produces events at model speed and its whole output is
        # small, while a bounded queue would make a slow reader stall the provider stream.
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last: Event | None = None
        self._usage = TokenUsage()
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
            async for event in self._events:
                self._queue.put_nowait(event)
        except asyncio.CancelledError:
            self._queue.put_nowait(_STOPPED)
            raise
        except Exception as exc:
            self._queue.put_nowait(exc)
        else:
            self._queue.put_nowait(_END)
        finally:
            await self._events.aclose()

    async def events(self) -> AsyncIterator[Event]:
        """Every event of the run, from ``run_started``, with exactly one end (the hosted run's
        recorder reads this, whether or not a client is connected)."""
        if self.started is not None:
            yield self.started
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if item is _STOPPED or isinstance(item, BaseException):
                for event in self._endings(item):
                    yield event
                return
            self._note(item)
            yield item

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


class LiveRuns:
    """The runs a server is streaming, so shutdown can wait for them and then cancel them."""

    def __init__(self) -> None:
        self._runs: set[RunStream] = set()
        self.accepting = True

    def __len__(self) -> int:
        return len(self._runs)

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
