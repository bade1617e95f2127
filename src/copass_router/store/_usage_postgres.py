"""The usage ledger on PostgreSQL: one table in the session store's schema, for every worker.

When the session store is PostgreSQL the router keeps its ledger there too (the store's
``usage_ledger()``), on the store's own asyncpg pool, so all workers record into and check
budgets against one ledger. Each model call is one ``INSERT ... ON CONFLICT DO UPDATE`` that
adds to its row on the server (no read-modify-write, so concurrent workers lose nothing); cost is
``numeric``, exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from copass_router.accounting._reservations import Admit, Reservation, Scope, Standing
from copass_router.accounting._usage import Spend, UsageEntry, UsageRow
from copass_router.store import _usage_sql as sql
from copass_router.store._postgres_schema import quoted_schema

if TYPE_CHECKING:
    from copass_router.store._postgres import PostgresStore


def _mark(index: int) -> str:
    return f"${index}"


def _lock_id(key: str) -> int:
    """The advisory lock id of ``key``: the same in every worker, and a number, so it goes into
    the statement that takes the lock without an argument."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)


def _marks_from(offset: int) -> Callable[[int], str]:
    """Placeholders numbered after the ``offset`` arguments before them."""
    return lambda index: _mark(index + offset)


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

        reservations = f"{quoted_schema(store.schema)}.usage_reservations"
        self._epoch = f"{quoted_schema(store.schema)}.epoch()"
        self._held = (
            f"SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_usd), 0) FROM {reservations}"
        )
        self._live = f" AND expires_at > {self._epoch}"
        self._hold = f"INSERT INTO {reservations} VALUES ($1, $2, $3, $4, $5, {self._epoch} + $6)"
        # A call's reservation, and any of its tenant's that expired (their worker died).
        self._drop = (
            f"DELETE FROM {reservations} WHERE id = $1 "
            f"OR (tenant = $2 AND expires_at <= {self._epoch})"
        )
        # The upsert's 11 arguments, then the reservation's id ($1 is the tenant).
        self._settle = (
            f"WITH dropped AS (DELETE FROM {reservations} WHERE id = $12 "
            f"OR (tenant = $1 AND expires_at <= {self._epoch})) {self._upsert}"
        )
        self._lock_key = f"copass_router_budget:{store.schema}:"

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

    async def reserve(
        self, reservation: Reservation, scopes: Sequence[Scope], admit: Admit
    ) -> tuple[bool, list[Standing]]:
        """Read each scope's standing and take ``reservation`` if ``admit`` says so, in one
        transaction under an advisory lock on the tenant: every worker takes turns. Three
        round trips: begin and lock; hold and read; commit (taken) or roll back. A reservation
        is a hold, not a charge, so its commit does not wait for the disk."""
        lock = _lock_id(self._lock_key + reservation.tenant)
        async with (await self.store.pool()).acquire() as conn:
            await conn.execute(
                f"BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({lock})"
            )
            try:
                standings = await self._hold_and_read(conn, reservation, scopes)
                taken = admit(standings)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT" if taken else "ROLLBACK")
            return taken, standings

    async def _hold_and_read(
        self, conn: Any, reservation: Reservation, scopes: Sequence[Scope]
    ) -> list[Standing]:
        # One statement, so one snapshot (taken after the lock): a call settling meanwhile
        # (its reservation dropped, its usage added, in one commit) is seen in both sums or in
        # neither; the hold it inserts is not in the sums it reads.
        tenant = reservation.tenant
        args: list[Any] = [
            reservation.id,
            tenant,
            reservation.end_user_id,
            reservation.tokens,
            reservation.cost_usd,
            reservation.ttl,
        ]
        parts: list[str] = []
        for user, since in scopes:
            for query, day, live in ((self._spend, since, ""), (self._held, None, self._live)):
                where, more = sql.filters(tenant, user, day, None, _marks_from(len(args)), _same)
                parts.append(f"({query + where + live}) q{len(parts)}")
                args.extend(more)
        statement = f"WITH hold AS ({self._hold}) SELECT * FROM " + ", ".join(parts)
        row = tuple(await conn.fetchrow(statement, *args))
        return [
            Standing(Spend(int(row[i]), row[i + 1]), Spend(int(row[i + 2]), row[i + 3]))
            for i in range(0, len(row), 4)
        ]

    async def settle(self, reservation_id: str, entry: UsageEntry | None) -> None:
        """Drop the reservation and record ``entry`` (if any): one statement, so one
        transaction and one round trip."""
        pool = await self.store.pool()
        if entry is None:
            await pool.execute(self._drop, reservation_id, "")
            return
        cost = Decimal(0) if entry.cost_usd is None else entry.cost_usd
        await pool.execute(self._settle, *sql.entry_values(entry, entry.day, cost), reservation_id)

    async def close(self) -> None:
        if self._owned:
            await self.store.close()
