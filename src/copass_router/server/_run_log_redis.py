"""Hosted runs' event logs in Redis Streams, shared by every worker (``COPASS_ROUTER_COORDINATOR``).

Per run, two keys: ``<prefix>run:<id>`` (a hash: owner, state, expiry, the newest dropped seq)
and ``<prefix>run:<id>:events`` (a stream). The worker running a run keeps its frames in memory
too, so its own readers never wait on Redis, and writes them to Redis in batches: one pipelined
round trip for everything appended meanwhile, stream entries of about ``READ_CHUNK`` bytes
(their format: :mod:`._run_log_stream`). A reader on another worker replays and follows with
``XREAD`` (``BLOCK`` while the run is quiet). Cancels travel on the ``<prefix>run-cancels``
channel.

Each worker says it is alive by renewing ``<prefix>worker:<id>`` (it expires after the worker
lease, ``COPASS_ROUTER_WORKER_LEASE``); a run's hash names its worker. A reader that finds a
run still running while its worker's key is gone ends the run in the log itself: one entry with
an ``error`` (``worker_lost``, retryable) and a ``run_finished`` (``<prefix>run:<id>:lost``
makes sure only one reader writes it), so every reader, now or later, gets the same end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from copass_router._logs import get_logger, scrub
from copass_router.server._run_log import LogEntry, LogGone, LogInfo, RunLog, RunLogLimits, pieces
from copass_router.server._run_log_copy import read_ended
from copass_router.server._run_log_memory import MemoryRunLog
from copass_router.server._run_log_stream import (
    entry_fields,
    info_from,
    last_seq,
    lost_fields,
    unseen,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("copass_router.server")

COORDINATOR_ENV = "COPASS_ROUTER_COORDINATOR"
PREFIX_ENV = "COPASS_ROUTER_REDIS_PREFIX"
DEFAULT_PREFIX = "copass:"
#: A run whose worker died mid-run stops being "running" this long after its last frame.
RUNNING_TTL = 3600.0
#: Stream entries one XREAD asks for (each of about READ_CHUNK bytes).
_BATCH = 4
#: How long a Redis reply may take beyond the longest ``XREAD`` block before the read fails.
_READ_MARGIN = 10.0


class RedisRunLog(RunLog):
    """Run logs in Redis Streams.

    :param url: ``redis://`` or ``rediss://`` URL.
    :param prefix: put before every key and channel (several routers can share one Redis).
    """

    def __init__(
        self, url: str, limits: RunLogLimits | None = None, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        super().__init__(limits or RunLogLimits())
        self._url = url
        self._prefix = prefix
        self._redis: Redis | None = None
        self._local = MemoryRunLog(self.limits)
        self._pending: list[tuple[str, LogEntry | None]] = []  # None: the run ended
        self._trimmed: set[str] = set()
        self._copies: dict[str, asyncio.Future[None]] = {}
        self._queued = 0  # items ever put in _pending
        self._written = 0  # items ever written (or given up on)
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self.worker = secrets.token_hex(8)
        # Readers block on Redis at most this long, then look whether the run's worker lives.
        self._block = max(self.limits.worker_lease / 2, 0.05)
        self._client()  # redis-py is imported now, at start-up, not by a request on the loop

    def _client(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            # redis-py's default read timeout (5 s) would cut a read blocked longer than it.
            self._redis = Redis.from_url(
                self._url, socket_timeout=self._block + _READ_MARGIN, socket_connect_timeout=5
            )
        return self._redis

    def _alive(self, worker: str) -> str:
        return f"{self._prefix}worker:{worker}"

    def _meta(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}"

    def _stream(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}:events"

    @property
    def _channel(self) -> str:
        return f"{self._prefix}run-cancels"

    # -- writing (the worker running the run) ------------------------------------------------

    async def open(self, run_id: str, owner: str, session_id: str = "") -> None:
        await self.start()
        await self._local.open(run_id, owner)
        meta = self._meta(run_id)
        fields: dict[Any, Any] = {
            "owner": owner,
            "state": "running",
            "trimmed": -1,
            "worker": self.worker,
            "session": session_id,
        }
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.set(self._alive(self.worker), 1, px=int(self.limits.worker_lease * 1000))
            pipe.hset(meta, mapping=fields)
            pipe.pexpire(meta, int(RUNNING_TTL * 1000))
            await pipe.execute()

    async def append(self, run_id: str, entry: LogEntry) -> None:
        if self._local.add(run_id, entry):
            self._trimmed.add(run_id)
        self._pending.append((run_id, entry))
        self._queued += 1
        self._wake.set()

    async def end(self, run_id: str) -> None:
        await self._local.end(run_id)
        self._pending.append((run_id, None))
        self._queued += 1
        self._wake.set()
        await self.flushed()
        self._local.forget(run_id)  # every reader, ours too, reads it from Redis from now on

    async def flushed(self) -> None:
        """Wait until everything appended so far is in Redis."""
        target = self._queued
        while self._written < target:
            self._flushed.clear()
            await self._flushed.wait()

    async def start(self) -> None:
        """Start the background writer and the cancel listener (once)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())
            self._listener = asyncio.create_task(self._listen())
            self._keeper = asyncio.create_task(self._keep_alive())
            await self._listening.wait()

    async def _keep_alive(self) -> None:
        """Renew this worker's key, so readers elsewhere know its runs still go on."""
        lease = self.limits.worker_lease
        while True:
            try:
                await self._client().set(self._alive(self.worker), 1, px=int(lease * 1000))
            except Exception as exc:
                log.warning("worker_lease_renew_failed", error=scrub(repr(exc)))
            await asyncio.sleep(lease / 3)

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except Exception as exc:  # a reader elsewhere sees the gap (LogGone), never a lie
                log.warning("run_log_write_failed", error=scrub(repr(exc)), frames=len(batch))
            self._written += len(batch)
            self._flushed.set()

    async def _write(self, batch: list[tuple[str, LogEntry | None]]) -> None:
        if not batch:
            return
        limits = self.limits
        running_ms = int(RUNNING_TTL * 1000)
        touched: dict[str, bool] = {}
        frames: dict[str, list[LogEntry]] = {}
        for run_id, entry in batch:
            if entry is None:
                touched[run_id] = True
            else:
                touched.setdefault(run_id, False)
                frames.setdefault(run_id, []).append(entry)
        async with self._client().pipeline(transaction=False) as pipe:
            for run_id, entries in frames.items():
                # Stream entries of about READ_CHUNK bytes: what a reader holds per entry.
                for piece in pieces(entries):
                    fields = entry_fields(piece)
                    pipe.xadd(self._stream(run_id), fields, id=f"0-{piece[-1].seq + 1}")
            for run_id, ended in touched.items():
                meta, stream = self._meta(run_id), self._stream(run_id)
                if run_id in self._trimmed:
                    self._trimmed.discard(run_id)
                    info = await self._local.info(run_id)
                    if info is not None and info.trimmed >= 0:
                        pipe.xtrim(stream, minid=f"0-{info.trimmed + 2}", approximate=False)
                        pipe.hset(meta, "trimmed", info.trimmed)
                if ended:
                    keep = int(limits.retention * 1000)
                    expires = time.time() + limits.retention
                    pipe.hset(meta, mapping={"state": "ended", "expires": repr(expires)})
                    pipe.pexpire(stream, max(keep, 1))
                    pipe.pexpire(meta, keep + int(limits.tombstone * 1000))
                else:
                    pipe.pexpire(stream, running_ms)
                    pipe.pexpire(meta, running_ms)
            await pipe.execute()

    # -- reading (any worker) ----------------------------------------------------------------

    async def info(self, run_id: str) -> LogInfo | None:
        if self._local.has(run_id):
            return await self._local.info(run_id)
        meta: Any = await self._client().hgetall(self._meta(run_id))
        return info_from(meta)

    async def follow(self, run_id: str, after: int, quiet: float) -> AsyncIterator[list[LogEntry]]:
        if not self._local.has(run_id):
            await self._copy_if_ended(run_id)
        if self._local.has(run_id):
            async for local in self._local.follow(run_id, after, quiet):
                yield local
            return
        redis, stream = self._client(), self._stream(run_id)
        last = after
        position: Any = f"0-{after + 1}"
        wait = min(quiet, self._block)
        block = max(int(wait * 1000), 1)
        waited = 0.0
        while True:
            answer: Any = await redis.xread({stream: position}, count=_BATCH, block=block)
            if not answer:
                meta: Any = await redis.hgetall(self._meta(run_id))
                info = info_from(meta)
                if info is None or info.expired:
                    raise LogGone("the run's log has expired")
                if not info.running:
                    return  # ended without a last frame: its worker stopped mid-run
                worker = meta.get(b"worker", b"").decode()
                if worker and not await redis.exists(self._alive(worker)):
                    await self._bury(run_id, meta)
                    continue
                waited += wait
                if waited >= quiet:
                    waited = 0.0
                    yield []
                continue
            waited = 0.0
            batch: list[LogEntry] = []
            for entry_id, fields in answer[0][1]:
                entry = unseen(fields, last)
                if entry is not None:
                    batch.append(entry)
                    last = entry.seq
                position = entry_id
            if not batch:
                continue
            yield batch
            if batch[-1].last:
                return

    async def _copy_if_ended(self, run_id: str) -> None:
        """Read an ended run's log into this worker's memory once, for all its readers here
        (:mod:`._run_log_copy`); readers asking meanwhile wait for the same read."""
        copying = self._copies.get(run_id)
        if copying is None:
            copying = asyncio.ensure_future(self._copy(run_id))
            self._copies[run_id] = copying
            copying.add_done_callback(lambda done: self._copy_done(run_id, done))
        await asyncio.shield(copying)

    def _copy_done(self, run_id: str, done: asyncio.Future[None]) -> None:
        self._copies.pop(run_id, None)
        if not done.cancelled():
            done.exception()  # retrieved: the readers that waited for it were told

    async def _copy(self, run_id: str) -> None:
        limit = self.limits.max_total_bytes // 2
        copied = await read_ended(self._client(), self._meta(run_id), self._stream(run_id), limit)
        if copied is not None:
            owner, sealed, seconds = copied
            self._local.keep_copy(run_id, owner, sealed, seconds)

    async def _bury(self, run_id: str, meta: Any) -> None:
        """End a run whose worker is gone: its log gets ``error`` (``worker_lost``) and
        ``run_finished``, written by the one reader that takes the run's ``lost`` key."""
        redis, stream, key = self._client(), self._stream(run_id), self._meta(run_id)
        limits = self.limits
        keep = int(limits.retention * 1000)
        if not await redis.set(f"{key}:lost", 1, nx=True, px=keep + 60_000):
            return  # another reader writes the end
        newest: Any = await redis.xrevrange(stream, count=1)
        if newest and b"l" in newest[0][1]:
            return  # the run's own end made it to the log
        seq = last_seq(newest[0][1]) if newest else -1
        fields = lost_fields(run_id, seq, meta.get(b"session", b"").decode())
        expires = time.time() + limits.retention
        log.warning("worker_lost", run_id=run_id, worker=meta.get(b"worker", b"").decode())
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(stream, fields, id=f"0-{seq + 3}")
            pipe.hset(key, mapping={"state": "ended", "expires": repr(expires)})
            pipe.pexpire(stream, max(keep, 1))
            pipe.pexpire(key, keep + int(limits.tombstone * 1000))
            await pipe.execute()

    async def ping(self) -> None:
        await self._client().ping()

    # -- cancelling --------------------------------------------------------------------------

    async def request_cancel(self, run_id: str) -> None:
        if self._local.has(run_id):
            # Ours: no round trip. (The local log's own hook is unset: this log's is the one.)
            if self.on_cancel is not None:
                self.on_cancel(run_id)
            return
        await self._client().publish(self._channel, run_id)

    async def _listen(self) -> None:
        pubsub = self._client().pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self._listening.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                run_id = message["data"].decode()
                if self._local.has(run_id) and self.on_cancel is not None:
                    self.on_cancel(run_id)
        except Exception as exc:
            self._listening.set()
            log.warning("run_cancel_listener_failed", error=scrub(repr(exc)))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def aclose(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flushed(), 5)
        for task in (self._flusher, self._listener, self._keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._flusher = self._listener = self._keeper = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
