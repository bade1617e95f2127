"""Readers on one worker of a run another worker ran share one copy of its ended log, read once
from Redis, instead of each reading and parsing the whole log again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from copass_router import TextDelta
from copass_router.server._run_log import LogEntry, LogGone, RunLogLimits
from copass_router.server._run_log_redis import RedisRunLog
from copass_router.server._sse import encode_event

RUN = "run_copy"
SEQS = [s for s in range(400) if s % 7 != 3]  # gaps: middleware may drop events


def frame(seq: int) -> bytes:
    return encode_event(TextDelta(run_id=RUN, seq=seq, text=f"{seq}:" + "x" * 900))


def frames_after(after: int) -> bytes:
    return b"".join(frame(s) for s in SEQS if s > after)


@pytest.fixture
async def workers(redis_prefix: tuple[str, str]) -> AsyncIterator[tuple[RedisRunLog, Redis]]:
    """The worker that ran the run (it has ended) and a direct client of their Redis; the
    readers are made by each test."""
    url, prefix = redis_prefix
    writer = RedisRunLog(url, RunLogLimits(), prefix=prefix)
    await writer.open(RUN, "alpha:u-1")
    prev = -1
    for index, seq in enumerate(SEQS):
        await writer.append(RUN, LogEntry(seq, prev, frame(seq), seq == SEQS[-1]))
        prev = seq
        if index % 50 == 0:
            await writer.flushed()  # several batches: entries of all sizes
    await writer.end(RUN)
    client = Redis.from_url(url)
    try:
        yield writer, client
    finally:
        await client.aclose()
        await writer.aclose()


async def read(log: RedisRunLog, after: int) -> bytes:
    out = b""
    async for batch in log.follow(RUN, after, 0.05):
        out += b"".join(e.frame for e in batch)
    return out


async def test_readers_of_an_ended_run_share_one_copy(
    workers: tuple[RedisRunLog, Redis], redis_prefix: tuple[str, str]
) -> None:
    _, redis = workers
    url, prefix = redis_prefix
    reader = RedisRunLog(url, RunLogLimits(), prefix=prefix)
    try:
        stream = f"{prefix}run:{RUN}:events"
        assert await redis.xlen(stream) > 10  # the log spans many stream entries
        replays = await asyncio.gather(*(read(reader, -1) for _ in range(20)))
        assert all(replay == frames_after(-1) for replay in replays)
        # From now on the stream is not read again: every reader here replays the copy, from
        # any seq, in the middle of a stream entry too.
        await redis.delete(stream)
        for after in (-1, 0, 3, 4, 51, 200, 398, 399):
            assert await read(reader, after) == frames_after(after), after
        info = await reader.info(RUN)
        assert info is not None and (info.owner, info.running) == ("alpha:u-1", False)
    finally:
        await reader.aclose()


async def test_a_log_too_large_to_copy_is_read_from_redis_by_each_reader(
    workers: tuple[RedisRunLog, Redis], redis_prefix: tuple[str, str]
) -> None:
    _, redis = workers
    url, prefix = redis_prefix
    small = RedisRunLog(url, RunLogLimits(max_total_bytes=64 * 1024), prefix=prefix)
    try:
        assert await read(small, 10) == frames_after(10)
        await redis.delete(f"{prefix}run:{RUN}:events")
        assert await read(small, 10) == b""  # nothing was kept here: the stream was the log
    finally:
        await small.aclose()


async def test_a_copy_expires_with_the_run_s_log(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    limits = RunLogLimits(retention=0.5)
    writer = RedisRunLog(url, limits, prefix=prefix)
    reader = RedisRunLog(url, RunLogLimits(retention=60), prefix=prefix)
    try:
        await writer.open(RUN, "u")
        await writer.append(RUN, LogEntry(0, -1, frame(0)))
        await writer.append(RUN, LogEntry(1, 0, frame(1), True))
        await writer.end(RUN)
        assert await read(reader, -1) == frame(0) + frame(1)
        await asyncio.sleep(0.7)  # the writer's retention, not the reader's, applies
        info = await reader.info(RUN)
        assert info is not None and info.expired
        with pytest.raises(LogGone):
            await read(reader, -1)
    finally:
        await writer.aclose()
        await reader.aclose()
