"""Metering: each model call priced, counted in the usage ledger and held to the budgets.

The router wraps each attempt's backend in a :class:`MeteredBackend`: every ``Usage`` event the
backend yields gets its ``cost_usd`` (from the price book) before middleware or the consumer see
it, and is recorded in the ledger. When a budget that covers the run is spent after a call, the
run is over budget: a turn that needs no further model call ends as it would have; one about to
run tools (whose results would go to the next model call) ends there with stop reason
``budget``, before the tools run and before that call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import attrs

from .backend import AgentBackend, Turn
from .budgets import Budgets
from .events import Event, ToolCall, Usage
from .logs import get_logger, scrub
from .prices import PriceBook
from .run_loop import turn_events
from .types import RunRequest, StopReason
from .usage import DEFAULT_TENANT, UsageEntry, UsageLedger

log = get_logger("copass_router.metering")

#: The run metadata key naming its tenant (a hosted router sets it from the caller's key).
TENANT_KEY = "tenant"


def account_of(request: RunRequest) -> tuple[str, str]:
    """The (tenant, end user) a run's usage counts for.

    A hosted router namespaces end users by tenant (``<tenant>:<id>``); the ledger keeps the
    end user as the tenant's caller named it.
    """
    tenant = request.metadata.get(TENANT_KEY) or DEFAULT_TENANT
    return tenant, request.end_user_id.removeprefix(f"{tenant}:")


@attrs.define
class RunCost:
    """What a run's priced model calls cost so far (None until one is priced)."""

    cost_usd: Decimal | None = None
    #: A budget covering the run was spent after one of its calls.
    over_budget: bool = False

    def add(self, cost: Decimal | None) -> None:
        if cost is not None:
            self.cost_usd = cost if self.cost_usd is None else self.cost_usd + cost


class Meter:
    """Prices, records and budgets the model calls of every run of one router."""

    def __init__(
        self,
        prices: Callable[[], PriceBook],
        ledger: Callable[[], UsageLedger],
        budgets: Budgets,
    ) -> None:
        self._prices = prices
        self._ledger = ledger
        self.budgets = budgets

    async def check(self, request: RunRequest) -> None:
        """Refuse a run a spent budget covers (:class:`BudgetExceededError`), before it starts."""
        if not len(self.budgets):
            return
        tenant, user = account_of(request)
        error = await self.budgets.first_spent(self._ledger(), tenant, user)
        if error is not None:
            raise error

    def wrap(self, backend: AgentBackend, model: str, cost: RunCost) -> AgentBackend:
        """``backend`` with its model calls priced, recorded and budgeted for this run."""
        return MeteredBackend(backend, self, model, cost)

    async def account(self, turn: Turn, model: str, usage: Usage, cost: RunCost) -> Usage:
        """Price ``usage``, record it and stop ``turn`` if it spent a budget."""
        now = dt.datetime.now(dt.UTC)
        tokens = usage.as_token_usage()
        price = self._prices().cost(turn.provider, model, tokens, now.date())
        cost.add(price)
        tenant, user = account_of(turn.request)
        entry = UsageEntry(tenant, user, turn.provider, model, now.date(), tokens, price)
        ledger = self._ledger()
        try:
            await ledger.record(entry)
        except Exception as exc:  # a ledger outage must not fail the user's turn
            log.error("usage_not_recorded", run_id=turn.run_id, error=scrub(repr(exc)))
            return attrs.evolve(usage, cost_usd=price) if price is not None else usage
        if len(self.budgets) and await self.budgets.first_spent(ledger, tenant, user, now):
            cost.over_budget = True
        return attrs.evolve(usage, cost_usd=price) if price is not None else usage


class MeteredBackend(AgentBackend):
    """A backend whose ``Usage`` events go through the :class:`Meter` (one per attempt)."""

    def __init__(self, inner: AgentBackend, meter: Meter, model: str, cost: RunCost) -> None:
        self.inner = inner
        self._meter = meter
        self._model = model
        self._cost = cost

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        async with contextlib.aclosing(turn_events(self.inner, turn)) as events:
            async for event in events:
                if type(event) is Usage:
                    event = await self._meter.account(turn, self._model, event, self._cost)
                elif self._cost.over_budget and type(event) is ToolCall:
                    # Tools now would feed another model call: end here, before they run
                    # (closing the stream closes the dispatcher before it starts them).
                    turn.request_stop(StopReason.BUDGET)
                    return
                yield event
