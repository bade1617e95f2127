"""The embedded usage ledger: one SQLite table, its own connection on its own worker thread.

It may share the session store's SQLite file (WAL mode lets both connections work at once) or
live in memory. Costs are kept as integer pico-dollars (1e-12 USD), so sums stay exact for any
price given to six decimal places per million tokens.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from ..usage import Spend, UsageEntry, UsageRow
from .worker import SerialWorker

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
"""

_UPSERT = """
INSERT INTO usage_ledger VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, end_user_id, day, provider, model) DO UPDATE SET
    calls = calls + 1,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    cost_pico = cost_pico + excluded.cost_pico,
    unpriced_calls = unpriced_calls + excluded.unpriced_calls
"""

_COLUMNS = (
    "tenant, end_user_id, provider, model, day, calls, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, cost_pico, unpriced_calls"
)


def _pico(cost: Decimal | None) -> int:
    return 0 if cost is None else int((cost * _PICO).to_integral_value())


def _usd(pico: int) -> Decimal:
    return (Decimal(pico) / _PICO).normalize() if pico else Decimal(0)


def _row(values: tuple[Any, ...]) -> UsageRow:
    tenant, user, provider, model, day, calls, inp, out, read, write, pico, unpriced = values
    return UsageRow(
        tenant,
        user,
        provider,
        model,
        dt.date.fromisoformat(day),
        calls,
        inp,
        out,
        read,
        write,
        _usd(pico),
        unpriced,
    )


class SQLiteUsageLedger:
    """A :class:`~copass_router.UsageLedger` on a SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._worker = SerialWorker("copass-usage")
        self._conn: sqlite3.Connection | None = None

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
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._worker.run(lambda: fn(self._connect()))

    async def record(self, entry: UsageEntry) -> None:
        u = entry.usage
        values = (
            entry.tenant,
            entry.end_user_id,
            entry.provider,
            entry.model,
            entry.day.isoformat(),
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            _pico(entry.cost_usd),
            1 if entry.cost_usd is None else 0,
        )
        await self._run(lambda c: c.execute(_UPSERT, values))

    async def query(
        self,
        *,
        tenant: str | None = None,
        end_user_id: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[UsageRow]:
        where, args = _filters(tenant, end_user_id, since, until)
        sql = (
            f"SELECT {_COLUMNS} FROM usage_ledger{where} "
            "ORDER BY day, tenant, end_user_id, provider, model"
        )
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [_row(r) for r in rows]

    async def spend(self, tenant: str, end_user_id: str | None, since: dt.date) -> Spend:
        where, args = _filters(tenant, end_user_id, since, None)
        sql = (
            "SELECT COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + "
            f"cache_write_tokens), 0), COALESCE(SUM(cost_pico), 0) FROM usage_ledger{where}"
        )
        tokens, pico = await self._run(lambda c: c.execute(sql, args).fetchone())
        return Spend(int(tokens), _usd(int(pico)))

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None

        if self._conn is not None:
            await self._run(shut)
        self._worker.shutdown()


def _filters(
    tenant: str | None, end_user_id: str | None, since: dt.date | None, until: dt.date | None
) -> tuple[str, list[str]]:
    clauses, args = [], []
    for clause, value in (
        ("tenant = ?", tenant),
        ("end_user_id = ?", end_user_id),
        ("day >= ?", since.isoformat() if since else None),
        ("day <= ?", until.isoformat() if until else None),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def open_ledger(ledger: Any, store: object) -> Any:
    """The ledger ``Router(ledger=...)`` names: a ledger as given, a SQLite URL opened, or
    (None) one beside the session store ``store`` (its URL, or a store with a ``path``)."""
    if ledger is not None and not isinstance(ledger, str):
        return ledger
    if ledger is None:
        url = store if isinstance(store, str) else getattr(store, "path", None)
        ledger = SQLiteUsageLedger.url_beside(url)
    return SQLiteUsageLedger.from_url(ledger)
