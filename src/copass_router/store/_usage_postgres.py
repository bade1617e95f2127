"""The usage ledger on PostgreSQL: one table in the session store's schema, for every worker.

When the session store is PostgreSQL the router keeps its ledger there too (the store's
``usage_ledger()``), on the store's own asyncpg pool, so all workers record into and check
budgets against one ledger. Each model call is one ``INSERT ... ON CONFLICT DO UPDATE`` that
adds to its row on the server (no read-modify-write, so concurrent workers lose nothing); cost is
``numeric``, exact.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from copass_router.accounting._usage import Spend, UsageEntry, UsageRow
from copass_router.store import _usage_sql as sql
from copass_router.store._postgres_schema import quoted_schema

if TYPE_CHECKING:
    from copass_router.store._postgres import PostgresStore


def _mark(index: int) -> str:
    return f"${index}"


def _same(day: dt.date) -> dt.date:
    return day


class PostgresUsageLedger:
    """A :class:`~copass_router.UsageLedger` in a :class:`PostgresStore`'s schema.

    :param store: the store whose pool and schema (migration 2, ``usage_ledger``) it uses.
    :param owned: close ``store`` with the ledger (a ledger opened from its own URL).
    """

    def __init__(self, store: PostgresStore, *, owned: bool = False) -> None:
        self.store = store
        self._owned = owned
        table = f"{quoted_schema(store.schema)}.usage_ledger"
        self._upsert = sql.upsert(table, "cost_usd", _mark)
        self._select = f"SELECT {sql.columns('cost_usd')} FROM {table}"
        self._spend = (
            f"SELECT COALESCE(SUM({sql.TOKENS}), 0), COALESCE(SUM(cost_usd), 0) FROM {table}"
        )

    async def record(self, entry: UsageEntry) -> None:
        cost = Decimal(0) if entry.cost_usd is None else entry.cost_usd
        values = sql.entry_values(entry, entry.day, cost)
        await (await self.store.pool()).execute(self._upsert, *values)

    async def query(
        self,
        *,
        tenant: str | None = None,
        end_user_id: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[UsageRow]:
        where, args = sql.filters(tenant, end_user_id, since, until, _mark, _same)
        rows = await (await self.store.pool()).fetch(self._select + where + sql.ORDER, *args)
        return [sql.row(tuple(r), r["day"], r["cost_usd"]) for r in rows]

    async def spend(self, tenant: str, end_user_id: str | None, since: dt.date) -> Spend:
        where, args = sql.filters(tenant, end_user_id, since, None, _mark, _same)
        tokens, cost = await (await self.store.pool()).fetchrow(self._spend + where, *args)
        return Spend(int(tokens), sql.usd(cost))

    async def close(self) -> None:
        if self._owned:
            await self.store.close()
