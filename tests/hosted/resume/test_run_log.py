"""The run log's contract, for both implementations: a reader gets every frame after its seq once,
in order, live or replayed, or LogGone when frames it has not seen were dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from copass_router import TextDelta
from copass_router.server._run_log import LogEntry, LogGone, RunLog, RunLogLimits
from copass_router.server._run_log_memory import MemoryRunLog
from copass_router.server._sse import encode_event

LogPair = Callable[[RunLogLimits], tuple[RunLog, RunLog]]


def frame(seq: int) -> bytes:
    return encode_event(TextDelta(run_id="run_t", seq=seq, text=f"t{seq}"))


@pytest.fixture(params=["memory", "redis"])
def redis_target(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """None for the memory log, else (Redis URL, a key prefix of the test's)."""
    if request.param == "memory":
        return None
    target: tuple[str, str] = request.getfixturevalue("redis_prefix")
    return target


@pytest.fixture
async def logs(redis_target: tuple[str, str] | None) -> AsyncIterator[LogPair]:
    """(writer, reader): one memory log twice, or two Redis logs (two workers)."""
    made: list[RunLog] = []

    def pair(limits: RunLogLimits) -> tuple[RunLog, RunLog]:
        if redis_target is None:
            log = MemoryRunLog(limits)
            made.append(log)
            return log, log
        from copass_router.server._run_log_redis import RedisRunLog

        url, prefix = redis_target
        writer = RedisRunLog(url, limits, prefix=prefix)
        reader = RedisRunLog(url, limits, prefix=prefix)
        made.extend([writer, reader])
        return writer, reader

    yield pair
    for log in made:
        await log.aclose()


async def write(log: RunLog, seqs: list[int], end: bool = True, pause: float = 0) -> None:
    prev = -1
    for seq in seqs:
        await log.append("run_t", LogEntry(seq, prev, frame(seq), end and seq == seqs[-1]))
        prev = seq
        if pause:
            await asyncio.sleep(pause)  # separate writes (in Redis: separate entries)
    if end:
        await log.end("run_t")


async def read(log: RunLog, after: int) -> bytes:
    out = b""
    async for batch in log.follow("run_t", after, 0.05):
        out += b"".join(e.frame for e in batch)
    return out


async def test_a_reader_gets_the_frames_after_its_seq(logs: LogPair) -> None:
    writer, reader = logs(RunLogLimits())
    await writer.open("run_t", "alpha:u-1")
    seqs = [0, 1, 2, 4, 5, 6, 9, 10]  # gaps: middleware may drop events
    await write(writer, seqs)  # one burst: a single stream entry in Redis
    for after in (-1, 0, 3, 4, 6, 9):
        expected = b"".join(frame(s) for s in seqs if s > after)
        assert await read(reader, after) == expected, after
    assert await read(reader, 10) == b""
    info = await reader.info("run_t")
    assert info is not None and (info.owner, info.running, info.expired) == (
        "alpha:u-1",
        False,
        False,
    )


async def test_a_reader_follows_frames_as_they_come(logs: LogPair) -> None:
    writer, reader = logs(RunLogLimits())
    await writer.open("run_t", "u")
    await write(writer, [0, 1], end=False)
    following = asyncio.ensure_future(read(reader, 0))
    await asyncio.sleep(0.1)
    for seq in range(2, 6):
        await writer.append("run_t", LogEntry(seq, seq - 1, frame(seq), seq == 5))
        await asyncio.sleep(0.01)
    await writer.end("run_t")
    assert await asyncio.wait_for(following, 5) == b"".join(frame(s) for s in range(1, 6))


async def test_dropped_frames_are_never_skipped_silently(logs: LogPair) -> None:
    writer, reader = logs(RunLogLimits(max_events=3))
    await writer.open("run_t", "u")
    await write(writer, list(range(10)), pause=0.01)
    info = await reader.info("run_t")
    assert info is not None and info.trimmed == 6
    assert await read(reader, 6) == b"".join(frame(s) for s in (7, 8, 9))
    with pytest.raises(LogGone):
        await read(reader, 2)


async def fill(log: MemoryRunLog, run_id: str, end: bool = True) -> None:
    await log.open(run_id, "u")
    for seq in range(4):
        await log.append(run_id, LogEntry(seq, seq - 1, frame(seq), seq == 3))
    if end:
        await log.end(run_id)


async def test_ended_runs_go_first_when_all_logs_pass_the_total_cap() -> None:
    one = MemoryRunLog()
    await fill(one, "run_x")
    log = MemoryRunLog(RunLogLimits(max_total_bytes=int(2.5 * one.size)))
    for run_id in ("run_a", "run_b", "run_c"):
        await fill(log, run_id)
    # Three ended runs, room for two and a half: the oldest goes, and only it.
    gone, kept, last = [await log.info(r) for r in ("run_a", "run_b", "run_c")]
    assert gone is not None and gone.expired and gone.owner == "u"
    assert kept is not None and not kept.expired
    assert last is not None and not last.expired
    assert log.size <= 2.5 * one.size
    with pytest.raises(LogGone):
        await read_run(log, "run_a")
    assert await read_run(log, "run_b") == b"".join(frame(s) for s in range(4))


async def test_a_running_run_is_never_dropped_for_the_total_cap() -> None:
    size = len(frame(0))
    log = MemoryRunLog(RunLogLimits(max_total_bytes=2 * size))
    await log.open("run_a", "u")
    for seq in range(6):
        await log.append("run_a", LogEntry(seq, seq - 1, frame(seq), seq == 5))
    assert await read_run(log, "run_a") == b"".join(frame(s) for s in range(6))


async def read_run(log: RunLog, run_id: str) -> bytes:
    out = b""
    async for batch in log.follow(run_id, -1, 0.05):
        out += b"".join(e.frame for e in batch)
    return out
