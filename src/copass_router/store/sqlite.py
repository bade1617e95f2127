"""The embedded default store: SQLite, driven from one worker thread off the event loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..types import Binding, SessionInfo, TranscriptTurn
from ..wire import binding_from_row, dumps, turn_from_json, turn_to_json

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    end_user_id TEXT NOT NULL,
    turn_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (end_user_id, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS bindings (
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    native_id TEXT NOT NULL,
    synced_turns INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (session_id, provider)
);
CREATE TABLE IF NOT EXISTS resources (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""


def _session(row: tuple[Any, ...]) -> SessionInfo:
    return SessionInfo(*row)


class SQLiteStore:
    """A :class:`SessionStore` on one SQLite file (or ``:memory:``).

    All SQL runs on a single worker thread, so the connection is never shared across threads
    and the event loop never waits on disk.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copass-store")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connect()))

    async def create_session(self, end_user_id: str) -> SessionInfo:
        now = time.time()
        info = SessionInfo(f"ses_{uuid.uuid4().hex}", end_user_id, 0, now, now)

        def insert(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO sessions VALUES (?, ?, 0, ?, ?)",
                (info.session_id, end_user_id, now, now),
            )

        await self._run(insert)
        return info

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo | None:
        def get(c: sqlite3.Connection) -> SessionInfo | None:
            row = c.execute(
                "SELECT * FROM sessions WHERE session_id = ? AND end_user_id = ?",
                (session_id, end_user_id),
            ).fetchone()
            return _session(row) if row else None

        return await self._run(get)

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        def query(c: sqlite3.Connection) -> list[SessionInfo]:
            if end_user_id is None:
                rows = c.execute(
                    "SELECT * FROM sessions ORDER BY updated_at DESC LIMIT ?", (limit,)
                )
            else:
                rows = c.execute(
                    "SELECT * FROM sessions WHERE end_user_id = ? ORDER BY updated_at DESC LIMIT ?",
                    (end_user_id, limit),
                )
            return [_session(r) for r in rows]

        return await self._run(query)

    async def delete_session(self, session_id: str, end_user_id: str) -> bool:
        def delete(c: sqlite3.Connection) -> bool:
            with c:
                cur = c.execute(
                    "DELETE FROM sessions WHERE session_id = ? AND end_user_id = ?",
                    (session_id, end_user_id),
                )
                if cur.rowcount == 0:
                    return False
                c.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
                c.execute("DELETE FROM bindings WHERE session_id = ?", (session_id,))
            return True

        return await self._run(delete)

    async def begin_turn(self, session_id: str, turn: TranscriptTurn) -> None:
        body = turn_to_json(turn)

        def begin(c: sqlite3.Connection) -> None:
            with c:
                c.execute(
                    "INSERT OR REPLACE INTO turns VALUES (?, ?, ?)", (session_id, turn.index, body)
                )
                c.execute(
                    "UPDATE sessions SET turn_count = MAX(turn_count, ?), updated_at = ? "
                    "WHERE session_id = ?",
                    (turn.index + 1, time.time(), session_id),
                )

        await self._run(begin)

    async def finish_turn(self, session_id: str, turn: TranscriptTurn) -> None:
        body = turn_to_json(turn)

        def finish(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE turns SET body = ? WHERE session_id = ? AND idx = ?",
                (body, session_id, turn.index),
            )

        await self._run(finish)

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        def load(c: sqlite3.Connection) -> list[str]:
            rows = c.execute(
                "SELECT body FROM turns WHERE session_id = ? AND idx >= ? ORDER BY idx",
                (session_id, start),
            )
            return [r[0] for r in rows]

        return [turn_from_json(body) for body in await self._run(load)]

    async def get_binding(self, session_id: str, provider: str) -> Binding | None:
        def get(c: sqlite3.Connection) -> tuple[str, int, str] | None:
            row: tuple[str, int, str] | None = c.execute(
                "SELECT native_id, synced_turns, data FROM bindings "
                "WHERE session_id = ? AND provider = ?",
                (session_id, provider),
            ).fetchone()
            return row

        row = await self._run(get)
        return binding_from_row(*row) if row else None

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

    async def close(self) -> None:
        def close(c: sqlite3.Connection) -> None:
            c.close()

        if self._conn is not None:
            await self._run(close)
            self._conn = None
        self._executor.shutdown(wait=False)
