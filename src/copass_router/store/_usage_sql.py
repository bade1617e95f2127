"""The SQL the usage ledgers share (SQLite and PostgreSQL): one row per tenant, end user,
provider, model and day, added to by an atomic upsert.

The two differ only in their placeholders (``?`` or ``$1``), how a day is stored (ISO text or
``date``) and the cost column (integer pico-dollars or ``numeric``); those are the arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from copass_router.accounting._usage import UsageEntry, UsageRow

KEY = "tenant, end_user_id, day, provider, model"
TOKENS = "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
ORDER = " ORDER BY day, tenant, end_user_id, provider, model"
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)


def columns(cost: str) -> str:
    """Every column, in the order :func:`row` reads them."""
    return (
        "tenant, end_user_id, provider, model, day, calls, "
        f"{', '.join(_COUNTS)}, {cost}, unpriced_calls"
    )


def upsert(table: str, cost: str, mark: Callable[[int], str]) -> str:
    """One call added to its row, created at zero if new: counts add up on the server, so
    writers on several connections (or workers) never lose an update."""
    added = ", ".join(f"{c} = u.{c} + excluded.{c}" for c in (*_COUNTS, cost, "unpriced_calls"))
    marks = [mark(i) for i in range(1, 12)]
    values = ", ".join([*marks[:5], "1", *marks[5:]])
    return (
        f"INSERT INTO {table} AS u ({columns(cost)}) VALUES ({values}) "
        f"ON CONFLICT ({KEY}) DO UPDATE SET calls = u.calls + 1, {added}"
    )


def entry_values(entry: UsageEntry, day: Any, cost: Any) -> tuple[Any, ...]:
    """The 11 values :func:`upsert` takes for ``entry`` (``day`` and ``cost`` as stored)."""
    u = entry.usage
    return (
        entry.tenant,
        entry.end_user_id,
        entry.provider,
        entry.model,
        day,
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        cost,
        1 if entry.cost_usd is None else 0,
    )


def filters(
    tenant: str | None,
    end_user_id: str | None,
    since: dt.date | None,
    until: dt.date | None,
    mark: Callable[[int], str],
    day: Callable[[dt.date], Any],
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause of the filters given (``until`` inclusive), and its arguments."""
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("tenant = ", tenant),
        ("end_user_id = ", end_user_id),
        ("day >= ", day(since) if since else None),
        ("day <= ", day(until) if until else None),
    ):
        if value is not None:
            args.append(value)
            clauses.append(clause + mark(len(args)))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def usd(value: Decimal) -> Decimal:
    """A cost as reported: exact, without trailing zeros."""
    return value.normalize() if value else Decimal(0)


def row(values: tuple[Any, ...] | Any, day: dt.date, cost: Decimal) -> UsageRow:
    """A stored row (``day`` and ``cost`` already converted back)."""
    tenant, user, provider, model, _, calls, inp, out, read, write, _, unpriced = values
    return UsageRow(
        tenant, user, provider, model, day, calls, inp, out, read, write, usd(cost), unpriced
    )
