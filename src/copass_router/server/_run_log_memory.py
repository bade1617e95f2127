"""Hosted runs' event logs in this process's memory (the embedded default; see :mod:`._run_log`).

A running run's frames are a list of entries; once it has ended and nobody reads it, they are
sealed into one blob. All logs together are kept under ``max_total_bytes`` by dropping ended
runs' logs first, oldest first; a dropped log is remembered (a tombstone) as expired.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator

from copass_router.server._run_log import (
    READ_CHUNK,
    LogEntry,
    LogGone,
    LogInfo,
    RunLog,
    RunLogLimits,
    trimmed_message,
)

_MAX_TOMBSTONES = 100_000
ENTRY_COST = 100  # bytes a kept frame costs besides its own (the entry object, list slot)


class SealedLog:
    """An ended run's frames as one blob: a few objects instead of one per frame, so a log kept
    for minutes neither costs nor fragments the heap as much. Frame ``i`` has the seq
    ``seqs[i]`` and starts at ``offsets[i]`` of ``blob``; ``prev`` is the seq before the first."""

    __slots__ = ("blob", "last", "offsets", "prev", "seqs", "trimmed")

    def __init__(
        self,
        blob: bytes,
        seqs: array[int],
        offsets: array[int],
        prev: int,
        last: bool,
        trimmed: int,
    ) -> None:
        self.blob = blob
        self.seqs = seqs
        self.offsets = offsets
        self.prev = prev
        self.last = last
        self.trimmed = trimmed

    @classmethod
    def of(cls, kept: list[LogEntry], trimmed: int) -> SealedLog:
        """The entries ``kept`` (one frame each), sealed."""
        offsets = array("q")
        position = 0
        for entry in kept:
            offsets.append(position)
            position += len(entry.frame)
        blob = b"".join(e.frame for e in kept)
        seqs = array("q", (e.seq for e in kept))
        return cls(blob, seqs, offsets, kept[0].prev, kept[-1].last, trimmed)

    def after(self, seq: int) -> Iterator[LogEntry]:
        """The frames after ``seq``, in entries of about :data:`READ_CHUNK` bytes each (a copy
        of one piece at a time, never of the whole blob)."""
        seqs, offsets, count = self.seqs, self.offsets, len(self.seqs)
        i = bisect.bisect_right(seqs, seq)
        while i < count:
            start = offsets[i]
            j = bisect.bisect_right(offsets, start + READ_CHUNK, i + 1) - 1
            j = max(j, i + 1)  # one frame larger than a chunk goes alone
            end = offsets[j] if j < count else len(self.blob)
            prev = seqs[i - 1] if i else self.prev
            yield LogEntry(seqs[j - 1], prev, self.blob[start:end], self.last and j == count)
            i = j


class _Run:
    """One run's frames in memory: ``entries[head:]`` are kept; entry ``i`` of the list has the
    absolute index ``dropped + i`` (readers hold absolute indexes). Once the run has ended and
    nobody reads it, they are sealed into one blob (``sealed``)."""

    __slots__ = (
        "bytes",
        "dropped",
        "ended",
        "entries",
        "expires",
        "head",
        "owner",
        "readers",
        "sealed",
        "signal",
    )

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.entries: list[LogEntry] = []
        self.head = 0
        self.dropped = 0
        self.bytes = 0
        self.ended = False
        self.expires = 0.0
        self.signal: asyncio.Event | None = None  # set on the next append, when someone waits
        self.readers = 0
        self.sealed: SealedLog | None = None

    @property
    def cost(self) -> int:
        """The memory its frames take, roughly."""
        if self.sealed is not None:
            return len(self.sealed.blob) + 16 * len(self.sealed.seqs) + ENTRY_COST
        return self.bytes + ENTRY_COST * (len(self.entries) - self.head)

    @property
    def trimmed(self) -> int:
        if self.sealed is not None:
            return self.sealed.trimmed
        if self.head == 0 and self.dropped == 0:
            return -1
        return self.entries[self.head].prev

    def notify(self) -> None:
        if self.signal is not None:
            self.signal.set()
            self.signal = None

    def start_index(self, after: int) -> int:
        """The absolute index of the first kept entry with a seq above ``after``."""
        lo, hi = self.head, len(self.entries)
        while lo < hi:  # seqs ascend: bisect
            mid = (lo + hi) // 2
            if self.entries[mid].seq <= after:
                lo = mid + 1
            else:
                hi = mid
        return self.dropped + lo


class MemoryRunLog(RunLog):
    """Run logs in this process's memory (the embedded default)."""

    def __init__(self, limits: RunLogLimits | None = None) -> None:
        super().__init__(limits or RunLogLimits())
        self._runs: dict[str, _Run] = {}
        self._ended: deque[tuple[float, str]] = deque()  # expiry order = end order
        self._tombstones: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._bytes = 0  # what every run's kept frames cost

    @property
    def size(self) -> int:
        """Roughly the bytes of memory every run's kept frames take."""
        return self._bytes

    def has(self, run_id: str) -> bool:
        """Whether this process holds the run's frames."""
        self._sweep()
        run = self._runs.get(run_id)
        return run is not None and not (run.ended and run.expires <= time.monotonic())

    def keep_copy(self, run_id: str, owner: str, sealed: SealedLog, seconds: float) -> bool:
        """Hold an ended run's frames, read from elsewhere (Redis), for ``seconds`` at most, so
        this process's readers share one copy. False when they would not fit under
        ``max_total_bytes`` beside the runs this process writes."""
        self.forget(run_id)  # an expired copy not swept yet
        run = _Run(owner)
        run.ended, run.sealed = True, sealed
        run.expires = time.monotonic() + seconds
        if run.cost > self.limits.max_total_bytes // 2:
            return False
        self._runs[run_id] = run
        self._bytes += run.cost
        self._ended.append((run.expires, run_id))
        self._sweep()
        return run_id in self._runs

    async def open(self, run_id: str, owner: str, session_id: str = "") -> None:
        self._sweep()
        self._runs[run_id] = _Run(owner)

    async def append(self, run_id: str, entry: LogEntry) -> None:
        self.add(run_id, entry)

    def add(self, run_id: str, entry: LogEntry) -> bool:
        """:meth:`append`, synchronously; True when older frames were dropped to make room."""
        run = self._runs[run_id]
        cost = run.cost
        run.entries.append(entry)
        run.bytes += len(entry.frame)
        limits = self.limits
        trimmed = False
        while (kept := len(run.entries) - run.head) > 1 and (
            kept > limits.max_events or run.bytes > limits.max_bytes
        ):
            run.bytes -= len(run.entries[run.head].frame)
            run.head += 1
            trimmed = True
        self._bytes += run.cost - cost
        if run.head > 1024 and run.head * 2 > len(run.entries):
            del run.entries[: run.head]
            run.dropped += run.head
            run.head = 0
        run.notify()
        return trimmed

    async def end(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is None or run.ended:
            return
        run.ended = True
        run.expires = time.monotonic() + self.limits.retention
        self._ended.append((run.expires, run_id))
        run.notify()
        self._seal(run)
        self._sweep()

    def _seal(self, run: _Run) -> None:
        if not run.ended or run.readers or run.sealed is not None:
            return
        kept = run.entries[run.head :]
        if len(kept) < 2:
            return
        cost = run.cost
        run.sealed = SealedLog.of(kept, run.trimmed)
        run.entries = []
        run.head = 0
        self._bytes += run.cost - cost

    def forget(self, run_id: str) -> None:
        """Drop an ended run's frames at once (they are kept elsewhere: Redis)."""
        run = self._runs.pop(run_id, None)
        if run is not None:
            self._bytes -= run.cost
            run.notify()

    def _sweep(self) -> None:
        now = time.monotonic()
        cap = self.limits.max_total_bytes
        while self._ended and (self._ended[0][0] <= now or self._bytes > cap):
            expires, run_id = self._ended.popleft()
            if (kept := self._runs.get(run_id)) is not None and kept.expires != expires:
                continue  # a later copy of the run (keep_copy) holds the id now
            run = self._runs.pop(run_id, None)
            if run is not None:
                self._bytes -= run.cost
                run.notify()
                self._tombstones[run_id] = (run.owner, now + self.limits.tombstone)
        while self._tombstones:
            oldest = next(iter(self._tombstones.values()))
            if oldest[1] > now and len(self._tombstones) <= _MAX_TOMBSTONES:
                break
            self._tombstones.popitem(last=False)

    async def info(self, run_id: str) -> LogInfo | None:
        self._sweep()
        run = self._runs.get(run_id)
        if run is not None:
            return LogInfo(run.owner, running=not run.ended, trimmed=run.trimmed)
        gone = self._tombstones.get(run_id)
        if gone is not None:
            return LogInfo(gone[0], running=False, expired=True)
        return None

    async def follow(self, run_id: str, after: int, quiet: float) -> AsyncIterator[list[LogEntry]]:
        run = self._runs.get(run_id)
        if run is None:
            raise LogGone("the run's log has expired")
        if after < run.trimmed:
            raise LogGone(trimmed_message(self.limits))
        if run.sealed is not None:
            for index, piece in enumerate(run.sealed.after(after)):
                if index:  # a long replay lets the worker's other clients in between pieces
                    await asyncio.sleep(0)
                yield [piece]
            return
        run.readers += 1
        try:
            async for batch in self._tail(run_id, run, after, quiet):
                yield batch
        finally:
            run.readers -= 1
            if self._runs.get(run_id) is run:
                self._seal(run)

    async def _tail(
        self, run_id: str, run: _Run, after: int, quiet: float
    ) -> AsyncIterator[list[LogEntry]]:
        cursor = run.start_index(after)
        while True:
            index = cursor - run.dropped
            if index < run.head:
                raise LogGone(trimmed_message(self.limits))
            if index < len(run.entries):
                batch = run.entries[index:]
                cursor += len(batch)
                yield batch
                if batch[-1].last:
                    return
                continue
            if run.ended or self._runs.get(run_id) is not run:
                return
            if run.signal is None:
                run.signal = asyncio.Event()
            try:
                async with asyncio.timeout(quiet):
                    await run.signal.wait()
            except TimeoutError:
                yield []

    async def request_cancel(self, run_id: str) -> None:
        if self.on_cancel is not None:
            self.on_cancel(run_id)
