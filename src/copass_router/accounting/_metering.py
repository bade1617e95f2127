"""Metering: each model call priced, counted in the usage ledger and held to the budgets.

The run loop hands each attempt's ``Usage`` and ``ToolCall`` events to an
:class:`AttemptMeter`: every ``Usage`` event the backend yields gets its ``cost_usd`` (from the
price book) before middleware or the consumer see it, and is recorded in the ledger. When a
budget that covers the run is spent after a call, the run is over budget: a turn that needs no
further model call ends as it would have; one about to run tools (whose results would go to the
next model call) ends there with stop reason ``budget``, before the tools run and before that
call.

Before each model call of a budgeted run, its estimate is reserved (:mod:`._budget_gate`): the
run's first with its budget check, each later one when the run loop is about to send it
(:meth:`AttemptMeter.before_request`). A call's ``Usage`` settles the oldest reservation the
run holds, in the transaction that records it; what is left when the run ends is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import attrs

from copass_router._events import Event, ToolCall, ToolResult, Usage
from copass_router._logs import get_logger, scrub
from copass_router._types import RunRequest, StopReason, ToolCallRequest, TranscriptItem
from copass_router.accounting._budget_gate import CHARS_PER_TOKEN, BudgetGate
from copass_router.accounting._budgets import Budgets
from copass_router.accounting._prices import PriceBook
from copass_router.accounting._reservations import Reservation, add
from copass_router.accounting._usage import DEFAULT_TENANT, Spend, UsageEntry, UsageLedger
from copass_router.provider_kit._backend import Turn
from copass_router.tools._tools import ToolContext, ToolDispatcher

log = get_logger("copass_router.metering")

#: What a tool call refused because the run's budget is spent answers.
BUDGET_REFUSAL = "refused: this run's budget is spent; the turn ends"

#: How long a callback tool call waits for the usage of the model call that asked for it.
ACCOUNTING_WAIT = 2.0

#: The run metadata key naming its tenant (a hosted router sets it from the caller's key).
TENANT_KEY = "tenant"


#: ``provider_data`` of the usage the router estimates for a call cut before its usage came.
ESTIMATED = {"copass_router": {"usage": "estimated"}}


def sent_chars(turn: Turn, said: Sequence[TranscriptItem]) -> int:
    """The characters a model call of ``turn`` is sent: the request, the history the provider
    was given and what this turn said so far."""
    request = turn.request
    sent = len(request.message) + len(request.system or "")
    for earlier in turn.history:
        sent += len(earlier.user) + sum(len(repr(item)) for item in earlier.items)
    return sent + sum(len(repr(item)) for item in said)


def estimated_usage(turn: Turn, said: Sequence[TranscriptItem], streamed: int) -> Usage:
    """What a model call cut before the provider reported its usage is charged: the prompt it
    was sent (:func:`sent_chars`) and the ``streamed`` characters it produced, counted at
    :data:`CHARS_PER_TOKEN`."""
    sent = sent_chars(turn, said)
    return Usage(
        input_tokens=-(-sent // CHARS_PER_TOKEN),
        output_tokens=-(-streamed // CHARS_PER_TOKEN),
        provider_data=ESTIMATED,
    )


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
    #: Model calls accounted so far (every attempt of the run).
    calls: int = 0
    _accounted: asyncio.Event = attrs.field(factory=asyncio.Event)
    #: Ledger writes running beside the stream (awaited by :meth:`settled`).
    _writes: list[asyncio.Task[None]] = attrs.field(factory=list)
    #: Reservations of the run's calls whose usage has not come yet, oldest first.
    held: deque[Reservation] = attrs.field(factory=deque)
    #: The first call's reservation was taken with the run's budget check.
    prepaid: bool = False
    _release: Callable[[Reservation], Awaitable[None]] | None = None

    def add(self, cost: Decimal | None) -> None:
        if cost is not None:
            self.cost_usd = cost if self.cost_usd is None else self.cost_usd + cost

    def accounted(self) -> None:
        """One more model call is priced, recorded and checked against the budgets."""
        self.calls += 1
        self._accounted.set()

    async def settled(self) -> None:
        """Wait for the ledger writes of this run's calls (before the run's end is told), and
        release the reservations of calls that were never made."""
        while self._writes:
            await self._writes.pop()
        while self.held and self._release is not None:
            await self._release(self.held.popleft())

    def holding(self) -> Spend:
        """What the run's calls in flight hold."""
        total = Spend()
        for reservation in self.held:
            total = add(total, reservation.spend)
        return total

    async def wait_for_calls(self, count: int, within: float) -> None:
        """Wait until ``count`` calls are accounted (at most ``within`` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.calls < count:
                    self._accounted.clear()
                    await self._accounted.wait()


class ModelCallMeter:
    """Prices, records and budgets the model calls of every run of one router."""

    def __init__(
        self,
        prices: Callable[[], PriceBook],
        ledger: Callable[[], UsageLedger],
        budgets: Budgets,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._prices = prices
        self._ledger = ledger
        self.budgets = budgets
        #: Reserves each budgeted call's estimate before it is made.
        self.gate = BudgetGate(prices, ledger, environ or {})
        #: Per account, calls whose ledger write failed: written again before its next run.
        self.unrecorded: dict[tuple[str, str], list[UsageEntry]] = {}

    async def check(
        self, request: RunRequest, model: str | None = None, cost: RunCost | None = None
    ) -> None:
        """Refuse a run a spent budget covers (:class:`BudgetExceededError`), before it starts,
        and a run of an account whose earlier calls are not in the ledger yet, unless they can
        be written now (fail closed: the error says to retry).

        With ``cost``, the run's first model call is reserved here (:class:`BudgetGate`): a run
        whose budget calls in flight hold waits for them, and gets :class:`RateLimitError`
        when they hold it too long."""
        tenant, user = account_of(request)
        pending = self.unrecorded.get((tenant, user))
        if pending:
            ledger = self._ledger()
            while pending:
                await ledger.record(pending[0])  # raises while the ledger still fails
                pending.pop(0)
            del self.unrecorded[(tenant, user)]
        if not len(self.budgets):
            return
        covering = self.budgets.covering(tenant, user)
        if cost is None or model is None or not covering:
            error = await self.budgets.first_spent(self._ledger(), tenant, user)
            if error is not None:
                raise error
            return
        chars = len(request.message) + len(request.system or "")
        reservation = self.gate.estimate(
            (tenant, user), request.provider, model, chars, request.max_output_tokens
        )
        refused = await self.gate.reserve(reservation, covering, Spend())
        if refused is not None:
            raise refused
        cost.held.append(reservation)
        cost.prepaid = True
        cost._release = self.gate.release

    async def before_request(
        self, turn: Turn, model: str, said: Sequence[TranscriptItem], cost: RunCost
    ) -> bool:
        """Reserve the estimate of ``turn``'s next model call (``said``: what the turn said so
        far); False: the budget is spent (or held by others too long), the call is not made."""
        if cost.prepaid:
            cost.prepaid = False
            return True
        account = account_of(turn.request)
        covering = self.budgets.covering(*account) if len(self.budgets) else []
        if not covering:
            return True
        max_output = turn.request.max_output_tokens
        reservation = self.gate.estimate(
            account, turn.provider, model, sent_chars(turn, said), max_output
        )
        try:
            refused = await self.gate.reserve(reservation, covering, cost.holding())
        except Exception as exc:  # the ledger cannot answer: no call it cannot hold
            log.error("budget_not_reserved", run_id=turn.run_id, error=scrub(repr(exc)))
            return False
        if refused is not None:
            return False
        cost.held.append(reservation)
        cost._release = self.gate.release
        return True

    def attempt(self, model: str, cost: RunCost) -> AttemptMeter:
        """What prices, records and budgets the model calls of one attempt of a run."""
        return AttemptMeter(self, model, cost)

    async def account(self, turn: Turn, model: str, usage: Usage, cost: RunCost) -> Usage:
        """Price ``usage``, record it and stop ``turn`` if it spent a budget.

        When a budget covers the run, what comes next depends on the ledger, so the write is
        awaited here; otherwise it runs beside the stream and the run awaits it at its end
        (:meth:`RunCost.settled`), before ``RunFinished``.
        """
        now = dt.datetime.now(dt.UTC)
        tokens = usage.as_token_usage()
        price = self._prices().cost(turn.provider, model, tokens, now.date())
        cost.add(price)
        tenant, user = account_of(turn.request)
        entry = UsageEntry(tenant, user, turn.provider, model, now.date(), tokens, price)
        reservation = cost.held.popleft() if cost.held else None
        write = self._record(turn, entry, cost, now, reservation)
        if len(self.budgets) and self.budgets.covering(tenant, user):
            await write
        else:
            cost._writes.append(asyncio.ensure_future(write))
        return attrs.evolve(usage, cost_usd=price) if price is not None else usage

    async def _record(
        self,
        turn: Turn,
        entry: UsageEntry,
        cost: RunCost,
        now: dt.datetime,
        reservation: Reservation | None,
    ) -> None:
        ledger = self._ledger()
        try:
            await self.gate.settle(reservation, entry)
            if len(self.budgets) and await self.budgets.first_spent(
                ledger, entry.tenant, entry.end_user_id, now
            ):
                cost.over_budget = True
        except Exception as exc:  # a ledger outage must not fail the user's turn...
            log.error("usage_not_recorded", run_id=turn.run_id, error=scrub(repr(exc)))
            # ...but the account runs nothing more until this call is in the ledger.
            self.unrecorded.setdefault((entry.tenant, entry.end_user_id), []).append(entry)
        finally:
            cost.accounted()

    def covers(self, request: RunRequest) -> bool:
        """Whether any budget covers runs like ``request``."""
        return bool(len(self.budgets) and self.budgets.covering(*account_of(request)))


class BudgetedDispatcher(ToolDispatcher):
    """The run's dispatcher, refusing tool calls once the run is over budget.

    It serves tool calls that reach the router by callback (a deployed agent's
    ``copass_dispatch``), which can arrive before the stream has told the router what the model
    call asking for them used: when budgets cover the run, a call waits (at most
    :data:`ACCOUNTING_WAIT` seconds) until the calls before its round are accounted. Over
    budget, the agent gets a refusal and the turn ends with stop reason ``budget`` instead of
    the tool feeding the agent's next model call.
    """

    def __init__(self, inner: ToolDispatcher, cost: RunCost, turn: Turn, *, budgeted: bool) -> None:
        self.__dict__.update(inner.__dict__)
        self._cost = cost
        self._turn = turn
        self._budgeted = budgeted

    async def run(
        self, calls: Sequence[ToolCallRequest], context: ToolContext
    ) -> AsyncIterator[Event]:
        if self._budgeted and self._cost.calls < self._turn.tool_rounds:
            await self._cost.wait_for_calls(self._turn.tool_rounds, ACCOUNTING_WAIT)
        if not self._cost.over_budget:
            async for event in super().run(calls, context):
                yield event
            return
        self._turn.request_stop(StopReason.BUDGET)
        for call in calls:
            yield ToolCall(call_id=call.call_id, name=call.name, arguments=dict(call.arguments))
        for call in calls:
            yield ToolResult(
                call_id=call.call_id, name=call.name, output=BUDGET_REFUSAL, is_error=True
            )


class AttemptMeter:
    """Meters one attempt's model calls as its events pass the run loop (no generator layer
    of its own): each ``Usage`` is priced, recorded and budgeted; once the run is over budget,
    a ``ToolCall`` ends the turn before its tools run."""

    def __init__(self, meter: ModelCallMeter, model: str, cost: RunCost) -> None:
        self._meter = meter
        self._model = model
        self._cost = cost

    async def before_request(self, turn: Turn, said: Sequence[TranscriptItem]) -> bool:
        """Reserve the next model call's estimate; False: it is not to be made (budget)."""
        return await self._meter.before_request(turn, self._model, said, self._cost)

    async def __call__(self, turn: Turn, event: Event) -> Event | None:
        """``event`` (a ``Usage`` priced), or None: the turn stops here, without it."""
        if type(event) is Usage:
            return await self._meter.account(turn, self._model, event, self._cost)
        if self._cost.over_budget and type(event) is ToolCall:
            # Tools now would feed another model call: end here, before they run (closing
            # the backend's stream closes the dispatcher before it starts them).
            turn.request_stop(StopReason.BUDGET)
            return None
        return event
