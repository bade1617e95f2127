"""How a run's log lies in Redis (:mod:`._run_log_redis`): a stream entry's fields to frames and
back, a run's hash to :class:`LogInfo`, and the end written for a run whose worker died.

An entry ``0-<last seq + 1>`` holds the frames ``f`` (SSE frames, each ending in a blank line),
their seqs ``s`` (comma-separated), the seq of the frame before the first ``p``, and ``l`` when
it ends the run. ``p`` lets a reader prove it missed nothing.
"""

from __future__ import annotations

import time
from typing import Any

from copass_router._errors import ErrorCode
from copass_router._events import Error, RunFinished
from copass_router._types import StopReason
from copass_router.server._run_log import LogEntry, LogGone, LogInfo
from copass_router.server._sse import encode_event


def entry_fields(piece: list[LogEntry]) -> dict[Any, Any]:
    """The fields of the one stream entry that holds the consecutive frames ``piece``."""
    fields: dict[Any, Any] = {
        "f": b"".join(e.frame for e in piece),
        "s": ",".join(str(e.seq) for e in piece),
        "p": piece[0].prev,
    }
    if piece[-1].last:
        fields["l"] = 1
    return fields


def lost_fields(run_id: str, seq: int, session_id: str) -> dict[Any, Any]:
    """The entry that ends, after seq ``seq``, a run whose worker died: ``error``
    (``worker_lost``, retryable) and ``run_finished``."""
    error = Error(
        run_id=run_id,
        seq=seq + 1,
        code=ErrorCode.WORKER_LOST,
        retryable=True,
        message=(
            "the worker running this run stopped before the run ended (killed or crashed); "
            "the session's transcript keeps what was done; send the turn again"
        ),
    )
    finished = RunFinished(
        run_id=run_id, seq=seq + 2, stop_reason=StopReason.ERROR, session_id=session_id
    )
    return {
        "f": encode_event(error) + encode_event(finished),
        "s": f"{seq + 1},{seq + 2}",
        "p": seq,
        "l": 1,
    }


def last_seq(fields: Any) -> int:
    """The seq of the last frame of a stream entry."""
    return int(fields[b"s"].rsplit(b",", 1)[-1])


def info_from(meta: Any) -> LogInfo | None:
    """What a run's hash says (None: there is no such run)."""
    if not meta:
        return None
    owner = meta[b"owner"].decode()
    expires = float(meta.get(b"expires", b"0"))
    ended = meta.get(b"state") == b"ended"
    if ended and time.time() >= expires:
        return LogInfo(owner, running=False, expired=True)
    return LogInfo(owner, running=not ended, trimmed=int(meta.get(b"trimmed", b"-1")))


def unseen(fields: Any, last: int) -> LogEntry | None:
    """The frames of one stream entry that come after seq ``last`` (None: none do).

    Raises :class:`LogGone` when a frame between ``last`` and them is no longer kept.
    """
    seqs = [int(seq) for seq in fields[b"s"].split(b",")]
    prev = int(fields[b"p"])
    blob: bytes = fields[b"f"]
    done = b"l" in fields
    if seqs[-1] <= last:
        return None
    if seqs[0] > last:
        if prev > last:  # the frame before these was never delivered
            raise LogGone("events this reader has not received are no longer kept")
        return LogEntry(seqs[-1], prev, blob, done)
    # Part of the entry was delivered already: keep the frames after ``last``.
    frames = blob.split(b"\n\n")
    keep = [i for i, seq in enumerate(seqs) if seq > last]
    rest = b"".join(frames[i] + b"\n\n" for i in keep)
    return LogEntry(seqs[-1], seqs[keep[0] - 1], rest, done)
