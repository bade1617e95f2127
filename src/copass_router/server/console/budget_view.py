"""Budgets as the usage page shows them: each budget, whom it covers, and how much is spent.

A budget for every tenant (``*``) or every end user (``*``) is shown once per tenant or end
user the ledger has rows for in the page's period, at most ``MAX_BUDGET_ROWS`` rows in all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from copass_router.accounting._budgets import Budget, period_end, period_start
from copass_router.accounting._usage import UsageLedger, UsageRow

MAX_BUDGET_ROWS = 50


@attrs.frozen
class BudgetRow:
    """One budget for one tenant (and end user): spent out of allowed this period."""

    describe: str
    metric: str
    period: str
    spent: str
    limit: str
    percent: int
    resets_at: str


def _whom(budget: Budget, rows: Sequence[UsageRow]) -> Iterable[tuple[str, str | None]]:
    tenants = sorted({r.tenant for r in rows}) if budget.tenant == "*" else [budget.tenant]
    for tenant in tenants:
        if budget.end_user_id == "*":
            users = sorted({r.end_user_id for r in rows if r.tenant == tenant})
            for user in users:
                yield tenant, user
        else:
            yield tenant, budget.end_user_id


async def budget_rows(
    budgets: Iterable[Budget], ledger: UsageLedger, rows: Sequence[UsageRow]
) -> list[BudgetRow]:
    """Every budget with what its tenants (or end users) spent in its current period."""
    now = dt.datetime.now(dt.UTC)
    found: list[BudgetRow] = []
    for budget in budgets:
        for tenant, user in _whom(budget, rows):
            if len(found) >= MAX_BUDGET_ROWS:
                return found
            spend = await ledger.spend(tenant, user, period_start(budget.period, now))
            spent = budget.spent(spend)
            percent = int(min(spent / budget.limit, Decimal(1)) * 100) if budget.limit else 100
            found.append(
                BudgetRow(
                    describe=budget.describe(tenant, user or ""),
                    metric=budget.metric,
                    period=budget.period,
                    spent=str(spent),
                    limit=str(budget.limit),
                    percent=percent,
                    resets_at=period_end(budget.period, now).isoformat(timespec="minutes"),
                )
            )
    return found
