"""A run's log read back as neutral events, for the endpoints that speak other protocols.

The log holds the run's ``/v1/runs`` SSE frames; the Open Responses and AG-UI endpoints read
them back as events and translate those, so every protocol follows the very same recorded run
(and resumes from the same log) instead of running a turn of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from copass_router._events import Error, Event, RunFinished, event_from_json
from copass_router._logs import get_logger
from copass_router._types import StopReason
from copass_router.server._run_log import LogGone, RunLog
from copass_router.server._sse import HEARTBEAT

log = get_logger("copass_router.server")


def frame_events(chunk: bytes) -> list[Event]:
    """The events of one or more SSE frames of the run log."""
    events = []
    for block in chunk.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: "):
                events.append(event_from_json(line[6:]))
    return events


async def follow_events(
    run_log: RunLog,
    run_id: str,
    quiet: float,
    *,
    until_quiet: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[list[Event]]:
    """The run's events from its first, in batches, then live ones until ``run_finished``.

    An empty batch means ``quiet`` seconds passed without an event (time for a heartbeat);
    with ``until_quiet`` the reading stops there instead (what the run has done so far).
    ``on_progress(seq, bytes)`` hears how far the reader has read (see ``HostedRuns.progress``).
    Raises :class:`LogGone` when events were dropped from the log's window.
    """
    async for batch in run_log.follow(run_id, -1, quiet):
        if not batch:
            if until_quiet:
                return
            yield []
            continue
        yield [event for entry in batch for event in frame_events(entry.frame)]
        if on_progress is not None:  # the reader asked for more: it has handled this batch
            on_progress(batch[-1].seq, sum(len(entry.frame) for entry in batch))
        if batch[-1].last:
            return


async def translated_frames(
    run_log: RunLog,
    run_id: str,
    quiet: float,
    encode: Callable[[Event], bytes],
    finished: Callable[[], bool],
    kept_in: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The run's events as another protocol's SSE, from the first, then live ones.

    ``encode`` turns an event into the protocol's frames (``b""`` for none); a heartbeat goes
    out every ``quiet`` seconds without one. A log that ends before ``run_finished`` (events
    dropped from its window: ``kept_in`` says where the turn is kept) still ends the stream as
    the protocol ends a failed run, unless ``finished()`` says it has ended already.
    """
    try:
        async for batch in follow_events(run_log, run_id, quiet, on_progress=on_progress):
            if not batch:
                yield HEARTBEAT
                continue
            chunk = b"".join(encode(event) for event in batch)
            if chunk:
                yield chunk
    except LogGone as exc:
        log.warning("run_log_gone", run_id=run_id, error=str(exc))
        ending = cut_short("run_log_trimmed", f"{exc}; {kept_in}")
    else:
        if finished():
            return
        ending = cut_short("stream_cut", "the run's log ended before the run did")
    yield b"".join(encode(event) for event in ending)


def cut_short(code: str, message: str) -> list[Event]:
    """The ending of a run whose log ended before ``run_finished`` (dropped from the log's
    window, or the recorder failed): so a translated stream still ends as its protocol says."""
    return [
        Error(code=code, message=message),
        RunFinished(stop_reason=StopReason.ERROR),
    ]


__all__ = ["LogGone", "cut_short", "follow_events", "frame_events", "translated_frames"]
