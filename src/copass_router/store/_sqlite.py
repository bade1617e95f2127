"""The embedded default store: SQLite, driven from one worker thread off the event loop.

Each store call is one hop to that thread and, when it writes, one ``BEGIN IMMEDIATE``
transaction, so processes sharing the file serialise on SQLite's write lock: a turn claims its
session (a lease with a fencing token) in the same transaction that reads the session and
records the turn, and no two turns ever get the same index.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from copass_router._errors import SessionBusyError, SessionNotFoundError
from copass_router._types import Binding, SessionInfo, TranscriptTurn, TurnStatus
from copass_router._wire import binding_from_row, dumps, turn_from_json, turn_to_json
from copass_router.store._base import LEASE_SECONDS, TurnStart
from copass_router.store._blobs_sqlite import get_blobs, prune_blobs, put_blobs
from copass_router.store._sqlite_schema import connect, immediate
from copass_router.tools._worker_threads import SerialWorker

if TYPE_CHECKING:
    from copass_router.content._blobs import Blob, PartPolicy
    from copass_router.content._parts import Part
    from copass_router.store._usage_sqlite import SQLiteUsageLedger

T = TypeVar("T")

_SESSION = "SELECT session_id, end_user_id, turn_count, created_at, updated_at FROM sessions"
_INTERRUPT = (
    "UPDATE turns SET status = 'interrupted', body = json_set(body, '$.status', 'interrupted') "
    "WHERE session_id = ? AND idx = ? AND status = 'running'"
)


def _session(row: tuple[Any, ...]) -> SessionInfo:
    return SessionInfo(*row)


class SQLiteStore:
    """A :class:`SessionStore` on one SQLite file (or ``:memory:``).

    All SQL runs on a single worker thread, so the connection is never shared across threads
    and the event loop never waits on disk. The file is created 0600 in a 0700 directory.

    :param lease_seconds: how long a turn's claim on its session lasts unless renewed.
    """

    #: Works from any event loop (its SQL runs on its own thread): ``Router.run_sync`` keeps it.
    bound_to_loop = False

    def __init__(self, path: str | Path = ":memory:", *, lease_seconds: float = LEASE_SECONDS):
        self.path = str(path)
        self.lease_seconds = lease_seconds
        self._worker = SerialWorker("copass-store")
        self._conn: sqlite3.Connection | None = None
        self._applied: list[int] = []

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn, self._applied = connect(self.path)
        return self._conn

    def usage_ledger(self) -> SQLiteUsageLedger:
        """The usage ledger in this store's file, on this store's thread and connection (the
        router uses it when this is its store)."""
        from copass_router.store._usage_sqlite import SQLiteUsageLedger

        return SQLiteUsageLedger.sharing(self.path, self._worker, self._connect)

    async def migrate(self) -> list[int]:
        """Open the file, applying pending migrations; returns the versions applied."""
        return await self._run(lambda c: list(self._applied))

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._worker.run(lambda: fn(self._connect()))

    # -- a turn: two calls -------------------------------------------------------------------

    async def begin_turn(
        self,
        *,
        session_id: str | None,
        end_user_id: str,
        run_id: str,
        provider: str,
        model: str,
        user: str,
        with_binding: bool,
        parts: Sequence[Part] = (),
        new_session_id: str | None = None,
    ) -> TurnStart:
        ttl = self.lease_seconds

        def begin(c: sqlite3.Connection) -> TurnStart:
            now = time.time()
            with immediate(c):
                if session_id is None:  # a new session, claimed as it is made
                    sid = new_session_id or f"ses_{uuid.uuid4().hex}"
                    c.execute(
                        "INSERT INTO sessions (session_id, end_user_id, turn_count, created_at, "
                        "updated_at, lease_token, lease_expires) VALUES (?, ?, 1, ?, ?, 1, ?)",
                        (sid, end_user_id, now, now, now + ttl),
                    )
                    index, lease, created = 0, 1, now
                else:
                    sid = session_id
                    row = c.execute(
                        "SELECT turn_count, created_at, lease_token, lease_expires FROM sessions "
                        "WHERE session_id = ? AND end_user_id = ?",
                        (sid, end_user_id),
                    ).fetchone()
                    if row is None:
                        raise SessionNotFoundError(sid)
                    index, created, lease, expires = row[0], row[1], row[2] + 1, row[3]
                    if expires is not None:
                        if expires > now:
                            raise SessionBusyError(sid)
                        c.execute(_INTERRUPT, (sid, index - 1))
                    c.execute(
                        "UPDATE sessions SET turn_count = ?, updated_at = ?, lease_token = ?, "
                        "lease_expires = ? WHERE session_id = ?",
                        (index + 1, now, lease, now + ttl, sid),
                    )
                turn = TranscriptTurn(index, run_id, provider, model, user, parts=tuple(parts))
                c.execute(
                    "INSERT INTO turns (session_id, idx, body, status) VALUES (?, ?, ?, ?)",
                    (sid, index, turn_to_json(turn), TurnStatus.RUNNING.value),
                )
                fresh = session_id is None  # made just now: no binding, no earlier turns
                binding = _binding(c, sid, provider) if with_binding and not fresh else None
                bodies = (
                    c.execute(
                        "SELECT body FROM turns WHERE session_id = ? AND idx >= ? AND idx < ? "
                        "ORDER BY idx",
                        (sid, binding.synced_turns if binding else 0, index),
                    ).fetchall()
                    if not fresh
                    else []
                )
            return TurnStart(
                session=SessionInfo(sid, end_user_id, index + 1, created, now),
                turn=turn,
                binding=binding,
                history=tuple(turn_from_json(b) for (b,) in bodies),
                lease=lease,
                lease_seconds=ttl,
            )

        return await self._run(begin)

    async def finish_turn(
        self,
        session_id: str,
        turn: TranscriptTurn,
        lease: int,
        binding: tuple[str, Binding] | None = None,
    ) -> bool:
        body = turn_to_json(turn)
        data = dumps(binding[1].data) if binding else ""

        def finish(c: sqlite3.Connection) -> bool:
            with immediate(c):
                released = c.execute(
                    "UPDATE sessions SET lease_expires = NULL, updated_at = ? "
                    "WHERE session_id = ? AND lease_token = ?",
                    (time.time(), session_id, lease),
                ).rowcount
                if not released:
                    return False  # deleted, or another turn took the session over
                c.execute(
                    "UPDATE turns SET body = ?, status = ? WHERE session_id = ? AND idx = ?",
                    (body, turn.status.value, session_id, turn.index),
                )
                if binding is not None:
                    provider, b = binding
                    c.execute(
                        "INSERT OR REPLACE INTO bindings VALUES (?, ?, ?, ?, ?)",
                        (session_id, provider, b.native_id, b.synced_turns, data),
                    )
            return True

        return await self._run(finish)

    async def renew_lease(self, session_id: str, lease: int) -> bool:
        def renew(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE sessions SET lease_expires = ? "
                "WHERE session_id = ? AND lease_token = ? AND lease_expires IS NOT NULL",
                (time.time() + self.lease_seconds, session_id, lease),
            )
            return cur.rowcount == 1

        return await self._run(renew)

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(self, end_user_id: str) -> SessionInfo:
        now = time.time()
        info = SessionInfo(f"ses_{uuid.uuid4().hex}", end_user_id, 0, now, now)

        def insert(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO sessions (session_id, end_user_id, turn_count, created_at, "
                "updated_at) VALUES (?, ?, 0, ?, ?)",
                (info.session_id, end_user_id, now, now),
            )

        await self._run(insert)
        return info

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo | None:
        def get(c: sqlite3.Connection) -> SessionInfo | None:
            row = c.execute(
                f"{_SESSION} WHERE session_id = ? AND end_user_id = ?", (session_id, end_user_id)
            ).fetchone()
            return _session(row) if row else None

        return await self._run(get)

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        def query(c: sqlite3.Connection) -> list[SessionInfo]:
            if end_user_id is None:
                rows = c.execute(f"{_SESSION} ORDER BY updated_at DESC LIMIT ?", (limit,))
            else:
                rows = c.execute(
                    f"{_SESSION} WHERE end_user_id = ? ORDER BY updated_at DESC LIMIT ?",
                    (end_user_id, limit),
                )
            return [_session(r) for r in rows]

        return await self._run(query)

    async def delete_session(self, session_id: str, end_user_id: str) -> bool:
        def delete(c: sqlite3.Connection) -> bool:
            with immediate(c):
                row = c.execute(
                    "SELECT lease_expires FROM sessions WHERE session_id = ? AND end_user_id = ?",
                    (session_id, end_user_id),
                ).fetchone()
                if row is None:
                    return False
                if row[0] is not None and row[0] > time.time():
                    raise SessionBusyError(session_id)
                for table in ("turns", "bindings", "sessions"):
                    c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            return True

        return await self._run(delete)

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        def load(c: sqlite3.Connection) -> list[str]:
            row = c.execute(
                "SELECT turn_count, lease_expires FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is not None and row[1] is not None and row[1] <= time.time():
                _recover(c, session_id)
            rows = c.execute(
                "SELECT body FROM turns WHERE session_id = ? AND idx >= ? ORDER BY idx",
                (session_id, start),
            )
            return [r[0] for r in rows]

        return [turn_from_json(body) for body in await self._run(load)]

    # -- bindings and resources --------------------------------------------------------------

    async def get_binding(self, session_id: str, provider: str) -> Binding | None:
        return await self._run(lambda c: _binding(c, session_id, provider))

    async def put_binding(self, session_id: str, provider: str, binding: Binding) -> None:
        data = dumps(binding.data)

        def put(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO bindings VALUES (?, ?, ?, ?, ?)",
                (session_id, provider, binding.native_id, binding.synced_turns, data),
            )

        await self._run(put)

    async def get_resource(self, namespace: str, key: str) -> dict[str, Any] | None:
        def get(c: sqlite3.Connection) -> str | None:
            row = c.execute(
                "SELECT value FROM resources WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
            return row[0] if row else None

        raw = await self._run(get)
        return json.loads(raw) if raw is not None else None

    async def put_resource(self, namespace: str, key: str, value: Mapping[str, Any]) -> None:
        raw = dumps(value)

        def put(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, ?)", (namespace, key, raw))

        await self._run(put)

    async def delete_resource(self, namespace: str, key: str) -> None:
        def delete(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM resources WHERE namespace = ? AND key = ?", (namespace, key))

        await self._run(delete)

    # -- the bytes of message parts -----------------------------------------------------------

    async def put_blobs(
        self, tenant: str, end_user_id: str, blobs: Sequence[Blob], quota: PartPolicy
    ) -> None:
        """Keep the bytes of message parts (see ``content._blobs.BlobStore``)."""
        await self._run(lambda c: put_blobs(c, tenant, end_user_id, blobs, quota))

    async def get_blobs(self, end_user_id: str, hashes: Sequence[str]) -> dict[str, Blob]:
        """Read back the bytes of message parts by their sha256."""
        return await self._run(lambda c: get_blobs(c, end_user_id, hashes))

    async def prune_blobs(self, end_user_id: str, before: float) -> int:
        """Delete blobs kept before ``before`` that no turn of the end user refers to."""
        return await self._run(lambda c: prune_blobs(c, end_user_id, before))

    async def close(self) -> None:
        def close(c: sqlite3.Connection) -> None:
            c.close()

        if self._conn is not None:
            await self._run(close)
            self._conn = None
        self._worker.shutdown()


def _binding(c: sqlite3.Connection, session_id: str, provider: str) -> Binding | None:
    row = c.execute(
        "SELECT native_id, synced_turns, data FROM bindings WHERE session_id = ? AND provider = ?",
        (session_id, provider),
    ).fetchone()
    return binding_from_row(*row) if row else None


def _recover(c: sqlite3.Connection, session_id: str) -> None:
    """Mark the turn of an expired claim interrupted and free the session. The claim's token
    stays, so that turn's own late finish may still record what it did."""
    with immediate(c):
        row = c.execute(
            "SELECT turn_count, lease_expires FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None or row[1] is None or row[1] > time.time():
            return  # finished or renewed meanwhile
        c.execute(_INTERRUPT, (session_id, row[0] - 1))
        c.execute("UPDATE sessions SET lease_expires = NULL WHERE session_id = ?", (session_id,))
