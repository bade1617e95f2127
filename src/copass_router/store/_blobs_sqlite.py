"""The SQLite store's blob table: the bytes of message parts, per end user, under a quota."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from copass_router.content._blobs import Blob, PartPolicy, PartQuotaError
from copass_router.store._sqlite_schema import immediate


def put_blobs(
    c: sqlite3.Connection, tenant: str, end_user_id: str, blobs: Sequence[Blob], quota: PartPolicy
) -> None:
    """Keep ``blobs`` in one write transaction, after checking both quotas."""
    with immediate(c):
        marks = ",".join("?" * len(blobs))
        held = {
            sha
            for (sha,) in c.execute(
                f"SELECT sha256 FROM blobs WHERE end_user_id = ? AND sha256 IN ({marks})",
                (end_user_id, *(b.sha256 for b in blobs)),
            )
        }
        new = [b for b in blobs if b.sha256 not in held]
        if not new:
            return
        adding = sum(len(b.data) for b in new)
        for who, column, key, limit in (
            ("end user", "end_user_id", end_user_id, quota.end_user_bytes),
            ("tenant", "tenant", tenant, quota.tenant_bytes),
        ):
            (kept,) = c.execute(
                f"SELECT COALESCE(SUM(size), 0) FROM blobs WHERE {column} = ?", (key,)
            ).fetchone()
            if kept + adding > limit:
                raise PartQuotaError(who, kept, adding, limit)
        now = time.time()
        c.executemany(
            "INSERT INTO blobs (end_user_id, sha256, tenant, media_type, size, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(end_user_id, b.sha256, tenant, b.media_type, len(b.data), b.data, now) for b in new],
        )


def get_blobs(c: sqlite3.Connection, end_user_id: str, hashes: Sequence[str]) -> dict[str, Blob]:
    """The blobs of ``end_user_id`` among ``hashes``."""
    if not hashes:
        return {}
    marks = ",".join("?" * len(hashes))
    rows = c.execute(
        f"SELECT sha256, media_type, data FROM blobs WHERE end_user_id = ? AND sha256 IN ({marks})",
        (end_user_id, *hashes),
    ).fetchall()
    return {sha: Blob(sha, media_type, bytes(data)) for sha, media_type, data in rows}


def prune_blobs(c: sqlite3.Connection, end_user_id: str, before: float) -> int:
    """Delete the blobs of ``end_user_id`` kept before ``before`` that no turn of theirs
    refers to any more; how many went."""
    with immediate(c):
        return c.execute(
            "DELETE FROM blobs WHERE end_user_id = ? AND created_at < ? AND sha256 NOT IN ("
            "SELECT json_extract(p.value, '$.sha256') FROM sessions s "
            "JOIN turns t ON t.session_id = s.session_id, json_each(t.body, '$.parts') p "
            "WHERE s.end_user_id = ? AND json_extract(p.value, '$.sha256') IS NOT NULL)",
            (end_user_id, before, end_user_id),
        ).rowcount
