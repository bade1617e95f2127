"""Figure 9: what keeping a hosted run's event log adds per event.

Before run logs, a hosted run handed each encoded frame to its response through a queue. Now
the recorder appends it to the run's log and the response follows the log. This times both
hand-offs for the same pre-encoded frames (encoding is the same either way), with a reader
consuming as a live response does, and reports the difference per event: for the memory log
(embedded default), and for the Redis log (``COPASS_ROUTER_BENCH_REDIS``, default the local
service): the writer's cost until every frame is in Redis, and a reader on another worker
following through ``XREAD``. Loopback only; the Redis figures are skipped when it is unreachable.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from copass_router import TextDelta
from copass_router.server._run_log import LogEntry, RunLog, RunLogLimits
from copass_router.server._run_log_memory import MemoryRunLog
from copass_router.server._sse import encode_event

from .report import Figure

EVENTS = 50_000
RUNS = 5
YIELD_EVERY = 16  # a model's events arrive over time: the reader runs between them
REDIS_URL = os.environ.get("COPASS_ROUTER_BENCH_REDIS", "redis://127.0.0.1:6379/0")
LIMITS = RunLogLimits(max_events=EVENTS + 10, max_bytes=1 << 30)


def _frames() -> list[bytes]:
    return [encode_event(TextDelta(run_id="run_bench", seq=i, text="x")) for i in range(EVENTS)]


async def _queue_handoff(frames: list[bytes]) -> float:
    """The old path: a queue between the run's task and its response."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def reader() -> int:
        size = 0
        while (frame := await queue.get()) is not None:
            size += len(frame)
        return size

    start = time.perf_counter()
    task = asyncio.create_task(reader())
    for i, frame in enumerate(frames):
        queue.put_nowait(frame)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    queue.put_nowait(None)
    await task
    return time.perf_counter() - start


async def _log_handoff(
    frames: list[bytes],
    writer: RunLog,
    reader_log: RunLog,
    after_write: Callable[[], Awaitable[None]],
) -> float:
    """The new path: append to the run's log; a response follows it."""
    run_id = f"run_{uuid.uuid4().hex}"
    await writer.open(run_id, "bench")

    async def reader() -> int:
        size = 0
        async for batch in reader_log.follow(run_id, -1, 5.0):
            size += sum(len(e.frame) for e in batch)
        return size

    start = time.perf_counter()
    task = asyncio.create_task(reader())
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        await writer.append(run_id, LogEntry(i, i - 1, frame, i == last))
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    await writer.end(run_id)
    await after_write()
    size = await task
    assert size == sum(map(len, frames))
    return time.perf_counter() - start


async def _median(fn: Callable[[], Awaitable[float]]) -> float:
    await fn()  # warm up
    times = sorted([await fn() for _ in range(RUNS)])
    return times[RUNS // 2]


async def _redis_reachable() -> bool:
    try:
        from redis.asyncio import Redis
    except ImportError:
        return False
    client = Redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 2)
        return True
    except Exception:
        return False
    finally:
        await client.aclose()


async def _measure() -> dict[str, float]:
    frames = _frames()
    results = {"queue": await _median(lambda: _queue_handoff(frames))}
    memory = MemoryRunLog(LIMITS)

    async def nothing() -> None:
        return None

    results["memory"] = await _median(lambda: _log_handoff(frames, memory, memory, nothing))
    if not await _redis_reachable():
        return results
    from copass_router.server._run_log_redis import RedisRunLog

    prefix = f"copass-bench-{uuid.uuid4().hex[:8]}:"
    writer = RedisRunLog(REDIS_URL, LIMITS, prefix=prefix)
    other = RedisRunLog(REDIS_URL, LIMITS, prefix=prefix)  # another worker
    try:
        results["redis_local"] = await _median(
            lambda: _log_handoff(frames, writer, writer, writer.flushed)
        )
        results["redis_remote"] = await _median(
            lambda: _log_handoff(frames, writer, other, writer.flushed)
        )
    finally:
        client = writer._client()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await writer.aclose()
        await other.aclose()
    return results


def run() -> list[Figure]:
    """Added microseconds per event of the run log, memory and Redis."""
    results = asyncio.run(_measure())
    base = results["queue"]
    figures = [
        Figure(
            "9. run log added cost per event, memory",
            (results["memory"] - base) / EVENTS * 1e6,
            "us/event",
            "< 5 us",
            (results["memory"] - base) / EVENTS * 1e6 < 5,
            {"queue_s": base, "log_s": results["memory"], "events": EVENTS},
        )
    ]
    labels = {
        "redis_local": "Redis, written and read by the run's worker",
        "redis_remote": "Redis, read on another worker (XREAD)",
    }
    for key, label in labels.items():
        if key in results:
            added = (results[key] - base) / EVENTS * 1e6
            figures.append(
                Figure(
                    f"9. run log added cost per event, {label}",
                    added,
                    "us/event",
                    "< 20 us",
                    added < 20,
                    {"queue_s": base, "log_s": results[key], "events": EVENTS},
                )
            )
    if len(figures) == 1:
        print(f"(Redis at {REDIS_URL} unreachable: the Redis figures are skipped)")
    return figures
