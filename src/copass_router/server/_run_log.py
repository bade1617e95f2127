"""Hosted runs' event logs: what a client that lost its connection resumes from.

Every hosted run writes its SSE frames, in order, to a bounded log: at most ``max_events``
frames and ``max_bytes`` bytes (past either cap the oldest frames are dropped), kept
``retention`` seconds after the run ends (in memory, ended runs' logs go sooner, oldest first,
when all logs together pass ``max_total_bytes``). After that the log answers "expired" for
``tombstone`` seconds more (HTTP 410), then it is forgotten (404, as a run that never existed).

This module is the contract: the limits, what a log holds and answers, and :class:`RunLog`.
Two implementations: ``MemoryRunLog`` (:mod:`._run_log_memory`, one process, the embedded
default) and ``RedisRunLog`` (:mod:`._run_log_redis`, Redis Streams, so any worker can replay a
run another worker runs). The log is also how a cancel reaches the worker running the run.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import attrs

from copass_router._settings import env_float, env_int

MAX_EVENTS_ENV = "COPASS_ROUTER_RUN_LOG_MAX_EVENTS"
MAX_BYTES_ENV = "COPASS_ROUTER_RUN_LOG_MAX_BYTES"
RETENTION_ENV = "COPASS_ROUTER_RUN_LOG_RETENTION"
MAX_TOTAL_BYTES_ENV = "COPASS_ROUTER_RUN_LOG_MAX_TOTAL_BYTES"
WORKER_LEASE_ENV = "COPASS_ROUTER_WORKER_LEASE"
#: At most this many bytes of a log are handed to one reader at a time (whole frames, unless
#: one frame is larger): readers share the log, each holds one piece of it while it is sent.
READ_CHUNK = 16 * 1024


@attrs.frozen
class RunLogLimits:
    """How much of a run is kept, and for how long (seconds). ``worker_lease``: a worker
    sharing its logs (Redis) that has not said it is alive for this long is taken for dead,
    and the runs it was running end with ``worker_lost``."""

    max_events: int = 10_000
    max_bytes: int = 8 * 1024 * 1024
    retention: float = 120.0
    tombstone: float = 86_400.0
    max_total_bytes: int = 32 * 1024 * 1024
    worker_lease: float = 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunLogLimits:
        """Limits from ``COPASS_ROUTER_RUN_LOG_MAX_EVENTS`` / ``_MAX_BYTES`` / ``_RETENTION``."""
        default = cls()
        return cls(
            max_events=env_int(environ, MAX_EVENTS_ENV, default.max_events, minimum=1),
            max_bytes=env_int(environ, MAX_BYTES_ENV, default.max_bytes, minimum=1024),
            retention=env_float(environ, RETENTION_ENV, default.retention, minimum=0),
            max_total_bytes=env_int(
                environ, MAX_TOTAL_BYTES_ENV, default.max_total_bytes, minimum=1024
            ),
            worker_lease=env_float(environ, WORKER_LEASE_ENV, default.worker_lease, minimum=1),
        )


@attrs.frozen
class LogEntry:
    """A frame of a run (or consecutive frames, read back from Redis): the ``seq`` of its
    (last) event, the seq of the frame before it (``prev``; -1 for the first), the SSE bytes,
    and whether it ends the run (``run_finished``)."""

    seq: int
    prev: int
    frame: bytes
    last: bool = False


@attrs.frozen
class LogInfo:
    """What a log says about a run before anyone reads it."""

    owner: str
    running: bool
    expired: bool = False
    trimmed: int = -1  # the seq of the newest frame dropped by the caps (-1: none)


class LogGone(Exception):
    """The frames a reader asked for are no longer kept (expired, or dropped by the caps)."""


class RunLog(abc.ABC):
    """The event logs of hosted runs. One writer per run (the worker running it); any number
    of readers, on any worker that shares the log."""

    def __init__(self, limits: RunLogLimits) -> None:
        self.limits = limits
        self.on_cancel: Callable[[str], None] | None = None

    @abc.abstractmethod
    async def open(self, run_id: str, owner: str, session_id: str = "") -> None:
        """Start the log of a run; ``owner`` is the end user (as stored) it belongs to."""

    @abc.abstractmethod
    async def append(self, run_id: str, entry: LogEntry) -> None:
        """Add the next frame of a run this process writes."""

    @abc.abstractmethod
    async def end(self, run_id: str) -> None:
        """The run has ended: its log is kept ``retention`` seconds from now."""

    @abc.abstractmethod
    async def info(self, run_id: str) -> LogInfo | None:
        """What the log knows of a run; None when there is no such run (or it was forgotten)."""

    @abc.abstractmethod
    def follow(self, run_id: str, after: int, quiet: float) -> AsyncIterator[list[LogEntry]]:
        """The frames after seq ``after``, then the live ones, in batches, until the last.

        An empty batch means ``quiet`` seconds passed without a frame (time for a heartbeat).
        Raises :class:`LogGone` when frames the reader has not seen were dropped.
        """

    @abc.abstractmethod
    async def request_cancel(self, run_id: str) -> None:
        """Ask the worker running ``run_id`` to cancel it (it calls :attr:`on_cancel`)."""

    async def ping(self) -> None:  # noqa: B027 - nothing to reach in memory
        """Raise when the log's storage cannot be reached."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to close in memory
        """Release connections."""


def pieces(batch: list[LogEntry]) -> Iterator[list[LogEntry]]:
    """``batch`` in runs of consecutive entries of about :data:`READ_CHUNK` bytes."""
    piece: list[LogEntry] = []
    size = 0
    for entry in batch:
        if piece and size + len(entry.frame) > READ_CHUNK:
            yield piece
            piece, size = [], 0
        piece.append(entry)
        size += len(entry.frame)
    if piece:
        yield piece


def trimmed_message(limits: RunLogLimits) -> str:
    return (
        "events of this run that you have not received are no longer kept (a run's log keeps "
        f"its last {limits.max_events} events and {limits.max_bytes} bytes); "
        "the session's transcript has the turn"
    )
