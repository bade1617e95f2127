"""An ended run's log read once from Redis into one worker's memory, for all its readers.

A run that has ended no longer changes, so the readers of it on one worker need not each read it
from Redis: the first one to ask makes a :class:`SealedLog` of the whole stream (in batches of
entries, the event loop serving others between them) and every reader, that one included,
replays from it as from a run this worker ran. Without it, a hundred clients resuming a long run
cost a hundred reads and parses of the same megabytes, on the event loop.

A log that would not fit in memory (more than half of ``max_total_bytes``) is not copied: its
readers read it from Redis one by one, as readers of a running run do.
"""

from __future__ import annotations

import time
from array import array
from typing import TYPE_CHECKING, Any

from copass_router.server._run_log_memory import SealedLog
from copass_router.server._run_log_stream import info_from

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Stream entries read per round trip (each of about READ_CHUNK bytes).
COPY_BATCH = 32


async def read_ended(
    redis: Redis, meta_key: str, stream_key: str, max_bytes: int
) -> tuple[str, SealedLog, float] | None:
    """``(owner, frames, seconds left)`` of an ended run's log; None when the run is not
    ended, its log is gone or larger than ``max_bytes``, or not whole (then its readers read
    it from Redis and see for themselves what is missing)."""
    meta: Any = await redis.hgetall(meta_key)
    info = info_from(meta)
    if info is None or info.running or info.expired:
        return None
    left = float(meta.get(b"expires", b"0")) - time.time()
    parts: list[bytes] = []
    seqs, offsets = array("q"), array("q")
    position, prev, last, done = 0, -1, -1, False
    start: Any = "-"
    while True:
        answer: Any = await redis.xrange(stream_key, min=start, count=COPY_BATCH)
        for _, fields in answer:
            entry_seqs = [int(seq) for seq in fields[b"s"].split(b",")]
            entry_prev = int(fields[b"p"])
            if not seqs:
                prev = entry_prev
            elif entry_prev != last:
                return None  # a gap: frames were dropped in between
            blob: bytes = fields[b"f"]
            frames = blob.split(b"\n\n")[:-1]
            if len(frames) != len(entry_seqs):
                return None
            for frame in frames:
                offsets.append(position)
                position += len(frame) + 2
            seqs.extend(entry_seqs)
            parts.append(blob)
            last, done = entry_seqs[-1], b"l" in fields
            if position > max_bytes:
                return None
            start = f"0-{last + 2}"  # the next entry's id is above 0-<last seq + 1>
        if len(answer) < COPY_BATCH:
            break
    if not seqs:
        return None
    sealed = SealedLog(b"".join(parts), seqs, offsets, prev, done, info.trimmed)
    return info.owner, sealed, left
