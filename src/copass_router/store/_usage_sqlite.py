"""The embedded usage ledger: one SQLite table, on a worker thread off the event loop.

Beside a SQLite session store it lives in the store's file and runs on the store's own thread
and connection (:meth:`SQLiteStore.usage_ledger`): a model call's write is one more job on the
thread the turn's store calls use, not a second thread to wake and a second connection whose
writes make the store's re-read its cached pages. Opened from a URL, it has its own connection
on its own thread (WAL mode lets it share a file with another connection) or lives in memory.

Costs are kept as integer pico-dollars (1e-12 USD), so sums stay exact for any
price given to six decimal places per million tokens.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from copass_router.accounting._reservations import Admit, Reservation, Scope, Standing
from copass_router.accounting._usage import Spend, UsageEntry, UsageRow
from copass_router.store import _usage_sql as sql
from copass_router.store._sqlite_schema import ensure_directory, immediate, write_ahead_log
from copass_router.tools._worker_threads import SerialWorker

T = TypeVar("T")
_PICO = Decimal(10) ** 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_ledger (
    tenant TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    day TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_pico INTEGER NOT NULL DEFAULT 0,
    unpriced_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, end_user_id, day, provider, model)
);
CREATE INDEX IF NOT EXISTS usage_by_tenant_day ON usage_ledger (tenant, day);
CREATE TABLE IF NOT EXISTS usage_reservations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    cost_pico INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_tenant ON usage_reservations (tenant, end_user_id);
"""


def _mark(_: int) -> str:
    return "?"


def _iso(day: dt.date) -> str:
    return day.isoformat()


_UPSERT = sql.upsert("usage_ledger", "cost_pico", _mark)
_SELECT = f"SELECT {sql.columns('cost_pico')} FROM usage_ledger"
_SPEND = f"SELECT COALESCE(SUM({sql.TOKENS}), 0), COALESCE(SUM(cost_pico), 0) FROM usage_ledger"


_HELD = "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_pico), 0) FROM usage_reservations"
_EXPIRE = "DELETE FROM usage_reservations WHERE tenant = ? AND expires_at <= ?"
_HOLD = "INSERT INTO usage_reservations VALUES (?, ?, ?, ?, ?, ?)"
_DROP = "DELETE FROM usage_reservations WHERE id = ?"


def _pico(cost: Decimal | None) -> int:
    return 0 if cost is None else int((cost * _PICO).to_integral_value())


class SQLiteUsageLedger:
    """A :class:`~copass_router.UsageLedger` on a SQLite file (or ``:memory:``)."""

    #: Works from any event loop (its SQL runs on its own thread).
    bound_to_loop = False

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._worker = SerialWorker("copass-usage")
        self._conn: sqlite3.Connection | None = None
        #: The session store's connection, when the ledger runs on the store's thread.
        self._store_conn: Callable[[], sqlite3.Connection] | None = None

    @classmethod
    def sharing(
        cls, path: str, worker: SerialWorker, connect: Callable[[], sqlite3.Connection]
    ) -> SQLiteUsageLedger:
        """A ledger in a session store's file that runs on the store's ``worker`` thread and
        the connection ``connect`` gives there. The store owns both: closing this ledger
        closes neither."""
        ledger = cls(path)
        ledger._worker = worker
        ledger._store_conn = connect
        return ledger

    @classmethod
    def from_url(cls, url: str) -> SQLiteUsageLedger:
        """``sqlite:///path`` or ``:memory:`` (as the session store's URLs)."""
        if url in (":memory:", "sqlite://:memory:", "sqlite:///:memory:"):
            return cls(":memory:")
        return cls(url.removeprefix("sqlite:///"))

    @staticmethod
    def url_beside(store_url: str | None) -> str:
        """The ledger URL for a session store URL: the same SQLite file, else memory (a
        host with another store brings its own ledger, ``Router(ledger=...)``)."""
        if store_url is None or store_url == ":memory:":
            return ":memory:"
        if store_url.startswith("sqlite:///"):
            return store_url
        return ":memory:" if "://" in store_url else "sqlite:///" + store_url

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None and self._store_conn is not None:
            conn = self._store_conn()  # between the store's transactions: none is open
            conn.executescript(_SCHEMA)
            self._conn = conn
        if self._conn is None:
            if self.path != ":memory:":
                ensure_directory(Path(self.path))
            conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            if self.path != ":memory:":
                write_ahead_log(conn)
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._worker.run(lambda: fn(self._connect()))

    async def record(self, entry: UsageEntry) -> None:
        values = sql.entry_values(entry, entry.day.isoformat(), _pico(entry.cost_usd))
        await self._run(lambda c: c.execute(_UPSERT, values))

    async def query(
        self,
        *,
        tenant: str | None = None,
        end_user_id: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[UsageRow]:
        where, args = sql.filters(tenant, end_user_id, since, until, _mark, _iso)
        rows = await self._run(lambda c: c.execute(_SELECT + where + sql.ORDER, args).fetchall())
        return [sql.row(r, dt.date.fromisoformat(r[4]), Decimal(r[10]) / _PICO) for r in rows]

    async def spend(self, tenant: str, end_user_id: str | None, since: dt.date) -> Spend:
        where, args = sql.filters(tenant, end_user_id, since, None, _mark, _iso)
        tokens, pico = await self._run(lambda c: c.execute(_SPEND + where, args).fetchone())
        return Spend(int(tokens), sql.usd(Decimal(pico) / _PICO))

    async def reserve(
        self, reservation: Reservation, scopes: Sequence[Scope], admit: Admit
    ) -> tuple[bool, list[Standing]]:
        """Read each scope's standing and take ``reservation`` if ``admit`` says so, in one
        ``BEGIN IMMEDIATE`` transaction: processes on the file take turns."""
        tenant = reservation.tenant

        def job(c: sqlite3.Connection) -> tuple[bool, list[Standing]]:
            with immediate(c):
                now = time.time()
                c.execute(_EXPIRE, (tenant, now))
                standings = [self._standing(c, tenant, user, since) for user, since in scopes]
                taken = admit(standings)
                if taken:
                    held = (reservation.id, tenant, reservation.end_user_id, reservation.tokens)
                    c.execute(_HOLD, (*held, _pico(reservation.cost_usd), now + reservation.ttl))
                return taken, standings

        return await self._run(job)

    @staticmethod
    def _standing(c: sqlite3.Connection, tenant: str, user: str | None, since: dt.date) -> Standing:
        where, args = sql.filters(tenant, user, since, None, _mark, _iso)
        tokens, pico = c.execute(_SPEND + where, args).fetchone()
        where, args = sql.filters(tenant, user, None, None, _mark, _iso)
        held_tokens, held_pico = c.execute(_HELD + where, args).fetchone()
        return Standing(
            Spend(int(tokens), Decimal(pico) / _PICO),
            Spend(int(held_tokens), Decimal(held_pico) / _PICO),
        )

    async def settle(self, reservation_id: str, entry: UsageEntry | None) -> None:
        """Drop the reservation and record ``entry`` (if any), in one transaction."""

        def job(c: sqlite3.Connection) -> None:
            with immediate(c):
                c.execute(_DROP, (reservation_id,))
                if entry is not None:
                    values = sql.entry_values(entry, entry.day.isoformat(), _pico(entry.cost_usd))
                    c.execute(_UPSERT, values)

        await self._run(job)

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None

        if self._store_conn is not None:  # the store's connection and thread: it closes them
            self._conn = None
            return
        if self._conn is not None:
            await self._run(shut)
        self._worker.shutdown()
