"""Budgets: limits on what a tenant, or each of its end users, may spend per period.

A budget counts tokens (all four kinds) or USD (priced calls only: a model without a price
counts for tokens, never for cost) from the start of its period (a UTC day or calendar month),
as the usage ledger has them. A run is refused before it starts when a budget that covers it is
spent; a run that spends one mid-turn stops after the model call that crossed it, before the
next, with stop reason ``budget``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from copass_router._errors import BudgetExceededError, ConfigurationError, InvalidRequestError
from copass_router.accounting._prices import as_price
from copass_router.accounting._usage import Spend, UsageLedger

Metric = Literal["tokens", "cost_usd"]
Period = Literal["day", "month"]
#: Budgets from configuration: a JSON list of :class:`Budget` objects.
BUDGETS_ENV = "COPASS_ROUTER_BUDGETS"


def _limit(value: Decimal | float | int | str) -> Decimal:
    return as_price(value, "limit")


@attrs.frozen
class Budget:
    """A limit on spending per period.

    :param metric: ``tokens`` or ``cost_usd``.
    :param limit: the most that may be spent per period, in the metric's unit.
    :param period: ``day`` or ``month`` (UTC).
    :param tenant: the tenant it covers; ``*`` covers each tenant on its own.
    :param end_user_id: None: the tenant as a whole; ``*``: each end user on their own; else
        that end user only.
    """

    metric: Metric
    limit: Decimal = attrs.field(converter=_limit)
    period: Period = "day"
    tenant: str = "*"
    end_user_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.metric not in ("tokens", "cost_usd"):
            raise InvalidRequestError("metric must be 'tokens' or 'cost_usd'", field="metric")
        if self.period not in ("day", "month"):
            raise InvalidRequestError("period must be 'day' or 'month'", field="period")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        """A budget from its JSON form (the fields of this class)."""
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequestError(f"unknown budget field {unknown[0]!r}", field=unknown[0])
        return cls(**data)

    def covers(self, tenant: str, end_user_id: str) -> bool:
        """Whether runs of ``end_user_id`` of ``tenant`` count against this budget."""
        if self.tenant not in ("*", tenant):
            return False
        return self.end_user_id in (None, "*", end_user_id)

    def describe(self, tenant: str, end_user_id: str) -> str:
        """The budget in words, for one tenant and end user (``tenant t, end user u: ...``)."""
        unit = "tokens" if self.metric == "tokens" else "USD"
        who = f"tenant {tenant}"
        if self.end_user_id is not None:
            who += f", end user {end_user_id}"
        return f"{who}: {self.limit} {unit} per {self.period}"

    def spent(self, spend: Spend) -> Decimal:
        """What ``spend`` amounts to in this budget's unit."""
        return Decimal(spend.tokens) if self.metric == "tokens" else spend.cost_usd

    def exceeded(
        self, tenant: str, end_user_id: str, spent: Decimal, now: dt.datetime
    ) -> BudgetExceededError:
        """The error that refuses a run of ``end_user_id`` of ``tenant`` this budget covers,
        ``spent`` being what it counts so far."""
        resets = period_end(self.period, now)
        return BudgetExceededError(
            limit=self.describe(tenant, end_user_id),
            spent=str(spent),
            allowed=str(self.limit),
            resets_at=resets.isoformat(),
            retry_after=max((resets - now).total_seconds(), 0.0),
        )


def period_start(period: Period, now: dt.datetime) -> dt.date:
    """The first day of the period ``now`` is in (UTC)."""
    today = now.astimezone(dt.UTC).date()
    return today if period == "day" else today.replace(day=1)


def period_end(period: Period, now: dt.datetime) -> dt.datetime:
    """When the period ``now`` is in ends, i.e. the budget resets (UTC)."""
    start = period_start(period, now)
    if period == "day":
        end = start + dt.timedelta(days=1)
    else:
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)


def budgets_from_env(environ: Mapping[str, str]) -> list[Budget]:
    """Budgets configured in ``COPASS_ROUTER_BUDGETS`` (a JSON list), or none."""
    raw = environ.get(BUDGETS_ENV)
    if not raw:
        return []
    try:
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("not a list")
        return [Budget.from_dict(item) for item in data]
    except (ValueError, TypeError, InvalidRequestError) as exc:
        raise ConfigurationError(
            f"{BUDGETS_ENV} must be a JSON list of budgets "
            '([{"metric": "tokens", "limit": 100000, "period": "day"}]): ' + str(exc)
        ) from None


class Budgets:
    """The router's budgets, changeable while it runs (``Router.budgets``)."""

    def __init__(self, budgets: Iterable[Budget] = ()) -> None:
        self._budgets: list[Budget] = list(budgets)

    def __iter__(self) -> Any:
        return iter(list(self._budgets))

    def __len__(self) -> int:
        return len(self._budgets)

    def set(self, budget: Budget) -> None:
        """Add ``budget``, replacing one with the same metric, period, tenant and end user."""
        key = _key(budget)
        self._budgets = [b for b in self._budgets if _key(b) != key]
        self._budgets.append(budget)

    def remove(self, budget: Budget) -> None:
        """Drop the budget with ``budget``'s metric, period, tenant and end user (if any)."""
        key = _key(budget)
        self._budgets = [b for b in self._budgets if _key(b) != key]

    def covering(self, tenant: str, end_user_id: str) -> list[Budget]:
        """The budgets runs of this tenant and end user count against."""
        return [b for b in self._budgets if b.covers(tenant, end_user_id)]

    async def first_spent(
        self,
        ledger: UsageLedger,
        tenant: str,
        end_user_id: str,
        now: dt.datetime | None = None,
    ) -> BudgetExceededError | None:
        """The error for the first covering budget that is spent, or None (one ledger query
        per covering budget)."""
        now = now or dt.datetime.now(dt.UTC)
        for budget in self.covering(tenant, end_user_id):
            user = None if budget.end_user_id is None else end_user_id
            spend = await ledger.spend(tenant, user, period_start(budget.period, now))
            spent = budget.spent(spend)
            if spent >= budget.limit:
                return budget.exceeded(tenant, end_user_id, spent, now)
        return None


def _key(budget: Budget) -> tuple[str, str, str, str | None]:
    return (budget.metric, budget.period, budget.tenant, budget.end_user_id)
