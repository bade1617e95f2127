"""A hosted run's life past its connection.

Each run has a recorder task that reads the router's events (:class:`.runs.RunStream`) and
writes them to the run's log, whether or not a client is connected; every response, the first
one included, follows the log. When the client that started a run disconnects, the run goes on
(``on_disconnect: "continue"``, the default; the client resumes from the log) or is cancelled
(``"cancel"``). A tenant may have at most ``max_detached`` runs going on without their client on
one worker; past that a run whose client leaves is cancelled, and its log says why.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from copass_router._errors import InvalidRequestError, RouterError
from copass_router._events import Error, RunFinished, RunStarted
from copass_router._logs import get_logger, scrub
from copass_router._settings import env_int
from copass_router.run._router import Router
from copass_router.server._run_log import (
    LogEntry,
    LogGone,
    RunLog,
    RunLogLimits,
    pieces,
)
from copass_router.server._run_log_memory import MemoryRunLog
from copass_router.server._runs import QUEUE_EVENTS, RunStream, StreamingRuns
from copass_router.server._sse import HEARTBEAT

log = get_logger("copass_router.server")

ON_DISCONNECT = "on_disconnect"
POLICIES = ("continue", "cancel")
MAX_DETACHED_ENV = "COPASS_ROUTER_MAX_DETACHED_RUNS"
DEFAULT_MAX_DETACHED = 100


class RunLogUnavailableError(RouterError):
    """The runs' event log (Redis) could not be reached, so a run could not be started."""

    code = "run_log_unavailable"
    retryable = True

    def __init__(self) -> None:
        super().__init__(
            "the router could not open the run's event log (COPASS_ROUTER_COORDINATOR); "
            "the run was cancelled; retry later"
        )


def disconnect_policy(body: MutableMapping[str, Any]) -> str:
    """Take ``on_disconnect`` out of a run request body (it is not a field of the run)."""
    policy = body.pop(ON_DISCONNECT, None) or "continue"
    if policy not in POLICIES:
        raise InvalidRequestError(
            f"{ON_DISCONNECT} must be one of {', '.join(map(repr, POLICIES))}", field=ON_DISCONNECT
        )
    return str(policy)


def run_log_from_environ(environ: Mapping[str, str]) -> RunLog:
    """Redis Streams when ``COPASS_ROUTER_COORDINATOR`` is a Redis URL, else memory."""
    from copass_router.server._run_log_redis import (
        COORDINATOR_ENV,
        DEFAULT_PREFIX,
        PREFIX_ENV,
        RedisRunLog,
    )

    limits = RunLogLimits.from_environ(environ)
    url = environ.get(COORDINATOR_ENV, "").strip()
    if url.startswith(("redis://", "rediss://", "unix://")):
        # The coordinator's own ``?prefix=NAME`` names this deployment's keys too.
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        named = query.pop("prefix", None)
        url = urlunsplit(parts._replace(query=urlencode(query)))
        prefix = environ.get(PREFIX_ENV) or (f"{named}:" if named else DEFAULT_PREFIX)
        return RedisRunLog(url, limits, prefix=prefix)
    return MemoryRunLog(limits)


@attrs.define
class _Hosted:
    stream: RunStream
    tenant: str | None
    policy: str
    on_end: Callable[[], None] | None = None
    detached: bool = False
    # The connection that started the run, while it is open: how far it has read (seq, bytes).
    attached: bool = True
    delivered: int = -1
    delivered_bytes: int = 0
    progress: asyncio.Event = attrs.field(factory=asyncio.Event)

    def advanced(self, seq: int, size: int) -> None:
        self.delivered = seq
        self.delivered_bytes += size
        self.progress.set()


class HostedRuns:
    """The hosted runs of one app: their recorders, disconnect policies and cancels."""

    def __init__(
        self, router: Router, live: StreamingRuns, run_log: RunLog, max_detached: int
    ) -> None:
        self.router = router
        self.live = live
        self.log = run_log
        self.max_detached = max_detached
        self._runs: dict[str, _Hosted] = {}
        self._detached: collections.Counter[str | None] = collections.Counter()
        self._recorders: set[asyncio.Task[None]] = set()
        run_log.on_cancel = self.cancel_here

    def progress(self, run_id: str) -> Callable[[int, int], None] | None:
        """What the response that started ``run_id`` reports its reading to (see _record)."""
        hosted = self._runs.get(run_id)
        return hosted.advanced if hosted is not None else None

    def detached(self, tenant: str | None) -> int:
        """How many of ``tenant``'s runs go on without their client on this worker."""
        return self._detached[tenant]

    async def begin(
        self,
        stream: RunStream,
        started: RunStarted,
        owner: str,
        tenant: str | None,
        policy: str,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """Open the run's log and start recording it (``stream`` has started); ``on_end`` is
        called once the run has ended and its log is complete."""
        try:
            await self.log.open(started.run_id, owner, started.session_id)
        except Exception as exc:  # e.g. Redis unreachable: the run must not go on unrecorded
            log.error("run_log_unavailable", run_id=started.run_id, error=scrub(repr(exc)))
            await stream.aclose()
            self.live.discard(stream)
            raise RunLogUnavailableError() from None
        hosted = _Hosted(stream, tenant, policy, on_end)
        self._runs[started.run_id] = hosted
        task = asyncio.create_task(self._record(started.run_id, hosted))
        self._recorders.add(task)
        task.add_done_callback(self._recorders.discard)

    async def _record(self, run_id: str, hosted: _Hosted) -> None:
        prev, appended = -1, 0
        limits = self.log.limits
        lag_events, lag_bytes = (
            min(QUEUE_EVENTS, max(limits.max_events // 2, 1)),
            limits.max_bytes // 2,
        )
        try:
            async for event, frame in hosted.stream.encoded():
                # While the client that started the run is connected, the run waits for it as
                # it always did (a slow reader slows its own run, and never falls out of the
                # log's window); once it has left, the run goes on at its own pace.
                while hosted.attached and (
                    event.seq - hosted.delivered > lag_events
                    or appended - hosted.delivered_bytes > lag_bytes
                ):
                    hosted.progress.clear()
                    await hosted.progress.wait()
                await self.log.append(
                    run_id, LogEntry(event.seq, prev, frame, isinstance(event, RunFinished))
                )
                prev, appended = event.seq, appended + len(frame)
        except Exception as exc:
            log.error("run_log_failed", run_id=run_id, error=scrub(repr(exc)))
        finally:
            try:
                await self.log.end(run_id)
            except Exception as exc:
                log.warning("run_log_end_failed", run_id=run_id, error=scrub(repr(exc)))
            await hosted.stream.aclose()
            self.live.discard(hosted.stream)
            self._runs.pop(run_id, None)
            if hosted.detached:
                self._detached[hosted.tenant] -= 1
            if hosted.on_end is not None:
                hosted.on_end()

    async def client_left(self, run_id: str, disconnected: bool) -> None:
        """The response of the request that started ``run_id`` has ended."""
        hosted = self._runs.get(run_id)
        if hosted is None:
            return
        hosted.attached = False
        hosted.progress.set()
        if not disconnected:
            return
        tenant = hosted.tenant
        if hosted.policy == "cancel":
            log.info("client_disconnected", run_id=run_id, action="cancel")
            self.cancel_here(run_id)
        elif self._detached[tenant] >= self.max_detached:
            log.warning("detached_runs_capped", run_id=run_id, limit=self.max_detached)
            self.cancel_here(run_id, _capped(self.max_detached))
        else:
            log.info("client_disconnected", run_id=run_id, action="continue")
            hosted.detached = True
            self._detached[tenant] += 1

    def cancel_here(self, run_id: str, reason: Error | None = None) -> None:
        """Cancel ``run_id`` if this worker runs it (what a cancel request ends up calling)."""
        if run_id in self._runs:
            self.router.cancel(run_id, reason)

    async def aclose(self) -> None:
        """Wait for the recorders (after a drain) and release the log's connections."""
        if self._recorders:
            await asyncio.wait(set(self._recorders), timeout=5)
        await self.log.aclose()


def _capped(limit: int) -> Error:
    return Error(
        code="rate_limited",
        retryable=False,
        message=(
            f"the run was cancelled when its client disconnected: this API key already has "
            f"{limit} runs going on without their client ({MAX_DETACHED_ENV}); resume or cancel "
            'those, or send on_disconnect: "cancel"'
        ),
    )


def max_detached_from_environ(environ: Mapping[str, str]) -> int:
    """``COPASS_ROUTER_MAX_DETACHED_RUNS`` (default 100; 0: every disconnect cancels)."""
    return env_int(environ, MAX_DETACHED_ENV, DEFAULT_MAX_DETACHED, minimum=0)


async def follow_frames(
    run_log: RunLog,
    run_id: str,
    after: int,
    heartbeat: float,
    on_progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body of a run from its log: frames after seq ``after``, heartbeats while quiet.

    Ends after ``run_finished``, or early when frames this reader has not seen were dropped
    (the client's next resume is answered 410).
    """
    try:
        async for batch in run_log.follow(run_id, after, heartbeat):
            if not batch:
                yield HEARTBEAT
                continue
            # Sent a piece at a time: the response waits for the client to take each one, so
            # a reader that does not read holds one piece, not a copy of the run's log.
            for index, piece in enumerate(pieces(batch)):
                if index:  # a long replay lets the worker's other clients in between pieces
                    await asyncio.sleep(0)
                yield b"".join(entry.frame for entry in piece)
                if on_progress is not None:  # sent: the client has read this far
                    on_progress(piece[-1].seq, sum(len(entry.frame) for entry in piece))
    except LogGone as exc:
        log.warning("run_log_gone", run_id=run_id, error=str(exc))
    except Exception as exc:  # e.g. Redis unreachable: the body ends cleanly, the client resumes
        log.warning("run_log_read_failed", run_id=run_id, error=scrub(repr(exc)))
