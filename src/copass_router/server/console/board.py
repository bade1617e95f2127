"""The workers of a deployment and the runs each is running, as the console shows them.

Every worker announces itself every ``ANNOUNCE_SECONDS``: its id, process, start time and the
runs it is streaming. On one process (or workers without a shared coordinator) the board is
this process's memory; with ``COPASS_ROUTER_COORDINATOR=redis://...`` it is in Redis (a sorted
set of workers by last announcement and one short-lived key per worker), so the console shows
every worker's runs whichever worker serves the page. A worker that stops announcing drops off
after ``STALE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from copass_router._logs import get_logger, scrub

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("copass_router.console")

ANNOUNCE_SECONDS = 2.0
STALE_SECONDS = 10.0
#: The newest runs a worker lists (``running`` counts them all), so an announcement stays small.
MAX_RUNS_LISTED = 200
_COORDINATOR_ENV = "COPASS_ROUTER_COORDINATOR"
_PREFIX_ENV = "COPASS_ROUTER_REDIS_PREFIX"
_DEFAULT_PREFIX = "copass:"


@attrs.frozen
class LiveRun:
    """A run in flight on some worker."""

    run_id: str
    session_id: str
    provider: str
    model: str
    end_user_id: str  # as stored (``<tenant>:<end user>`` behind API keys)
    started_at: float
    worker_id: str


@attrs.frozen
class WorkerInfo:
    """A worker as it last announced itself."""

    worker_id: str
    pid: int
    host: str
    started_at: float
    seen_at: float
    runs: tuple[LiveRun, ...] = ()
    running: int = 0


def _worker_json(worker: WorkerInfo) -> str:
    return json.dumps(attrs.asdict(worker))


def _worker_from(raw: bytes | str) -> WorkerInfo:
    data = json.loads(raw)
    data["runs"] = tuple(LiveRun(**run) for run in data.get("runs", ()))
    return WorkerInfo(**data)


class WorkerBoard:
    """This worker's announcements, and every worker's as last seen.

    :param worker_id: this worker's id (the coordinator's).
    :param runs_now: this worker's runs in flight, read at each announcement.
    :param redis_url: share the board through this Redis (None: this process only).
    """

    def __init__(
        self,
        worker_id: str,
        runs_now: Callable[[], Awaitable[list[LiveRun]]],
        redis_url: str | None = None,
        prefix: str = _DEFAULT_PREFIX,
    ) -> None:
        self.worker_id = worker_id
        self._runs_now = runs_now
        self._url = redis_url
        self._prefix = prefix
        self._redis: Redis | None = None
        self._started_at = time.time()
        self._task: asyncio.Task[None] | None = None
        self._last: WorkerInfo | None = None

    @property
    def shared(self) -> bool:
        """Whether other workers' announcements are seen (a Redis board)."""
        return self._url is not None

    def _client(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            assert self._url is not None
            self._redis = Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        return self._redis

    @property
    def _set_key(self) -> str:
        return f"{self._prefix}console:workers"

    def _worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}console:worker:{worker_id}"

    def start(self) -> None:
        """Announce this worker now and every few seconds (once; needs a running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._announce_loop())

    async def _announce_loop(self) -> None:
        while True:
            try:
                await self.announce()
            except Exception as exc:  # Redis down: the health page says so; keep trying
                log.warning("console_announce_failed", error=scrub(repr(exc)))
            await asyncio.sleep(ANNOUNCE_SECONDS)

    async def announce(self) -> WorkerInfo:
        """Publish this worker's state now."""
        now = time.time()
        runs = sorted(await self._runs_now(), key=lambda run: run.started_at, reverse=True)
        me = WorkerInfo(
            worker_id=self.worker_id,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=self._started_at,
            seen_at=now,
            runs=tuple(runs[:MAX_RUNS_LISTED]),
            running=len(runs),
        )
        self._last = me
        if self._url is not None:
            ttl = int(STALE_SECONDS * 1000)
            async with self._client().pipeline(transaction=False) as pipe:
                pipe.set(self._worker_key(self.worker_id), _worker_json(me), px=ttl)
                pipe.zadd(self._set_key, {self.worker_id: now})
                pipe.zremrangebyscore(self._set_key, "-inf", now - STALE_SECONDS)
                await pipe.execute()
        return me

    async def workers(self) -> list[WorkerInfo]:
        """Every worker seen lately, this one first with its state as of now."""
        me = await self.announce()
        if self._url is None:
            return [me]
        redis = self._client()
        ids: Any = await redis.zrangebyscore(self._set_key, time.time() - STALE_SECONDS, "+inf")
        others = [i.decode() for i in ids if i.decode() != self.worker_id]
        found: list[WorkerInfo] = [me]
        if others:
            raws: Any = await redis.mget([self._worker_key(i) for i in others])
            found += [_worker_from(raw) for raw in raws if raw is not None]
        return found

    async def runs(self) -> list[LiveRun]:
        """Every run in flight on every worker seen, newest first."""
        runs = [run for worker in await self.workers() for run in worker.runs]
        return sorted(runs, key=lambda run: run.started_at, reverse=True)

    async def ping(self) -> None:
        """One round trip to the board's Redis (nothing to do in memory)."""
        if self._url is not None:
            await self._client().ping()

    async def aclose(self) -> None:
        """Stop announcing and take this worker off the board."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.zrem(self._set_key, self.worker_id)
                await self._redis.delete(self._worker_key(self.worker_id))
            await self._redis.aclose()
            self._redis = None


def board_redis(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The Redis URL (None: none) and key prefix the board shares, as the run logs do."""
    url = environ.get(_COORDINATOR_ENV, "").strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None, _DEFAULT_PREFIX
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    named = query.pop("prefix", None)
    url = urlunsplit(parts._replace(query=urlencode(query)))
    return url, environ.get(_PREFIX_ENV) or (f"{named}:" if named else _DEFAULT_PREFIX)
