"""The budget gate: before each budgeted model call, reserve its estimate or say why not.

A call passes while what the ledger counts, plus what other calls in flight hold, is under every
budget that covers it. When the ledger's count alone is at a limit the call is refused (the
budget is spent); when calls in flight hold the rest, it waits for them to settle (they may
spend less than they hold), at most :data:`~._reservations.RESERVE_WAIT` seconds. So once a
budget is nearly spent, its calls run one at a time, and what the budget can be overspent by is
what the one call let through last spends beyond its share: one call's worth, however many runs
are in flight and on however many workers share the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal

from copass_router._errors import BudgetExceededError, RateLimitError
from copass_router._logs import get_logger
from copass_router._settings import env_int
from copass_router._types import TokenCounts
from copass_router.accounting._budgets import Budget, period_start
from copass_router.accounting._prices import PriceBook
from copass_router.accounting._reservations import (
    DEFAULT_RESERVED_OUTPUT,
    RESERVE_OUTPUT_ENV,
    RESERVE_WAIT,
    LocalReservations,
    Reservation,
    ReservingLedger,
    Scope,
    Settlements,
    Standing,
    less,
)
from copass_router.accounting._usage import Spend, UsageEntry, UsageLedger

log = get_logger("copass_router.metering")

#: Characters per token in an estimate (the usual figure for English text and JSON).
CHARS_PER_TOKEN = 4


class BudgetGate:
    """Reserves, settles and releases the estimates of budgeted model calls."""

    def __init__(
        self,
        prices: Callable[[], PriceBook],
        ledger: Callable[[], UsageLedger],
        environ: Mapping[str, str],
    ) -> None:
        self._prices = prices
        self._ledger = ledger
        self._local = LocalReservations()
        self._settlements = Settlements()
        #: Per tenant, the queue of this process's calls waiting for others to settle.
        self._queues: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock, list[int]]] = {}
        #: Output tokens reserved for a call whose run sets no ``max_output_tokens``.
        self.default_output = env_int(
            environ, RESERVE_OUTPUT_ENV, DEFAULT_RESERVED_OUTPUT, minimum=1
        )
        #: Seconds a call waits for others' reservations before it gives up.
        self.wait = RESERVE_WAIT

    def estimate(
        self,
        account: tuple[str, str],
        provider: str,
        model: str,
        sent_chars: int,
        max_output_tokens: int | None,
    ) -> Reservation:
        """What a call sending ``sent_chars`` characters may spend: its input estimated at
        :data:`CHARS_PER_TOKEN`, plus its output cap (or :attr:`default_output`)."""
        counts = TokenCounts(
            input_tokens=-(-sent_chars // CHARS_PER_TOKEN),
            output_tokens=max_output_tokens or self.default_output,
        )
        day = dt.datetime.now(dt.UTC).date()
        cost = self._prices().cost(provider, model, counts, day)
        tokens = counts.input_tokens + counts.output_tokens
        return Reservation(account[0], account[1], tokens, Decimal(0) if cost is None else cost)

    async def reserve(
        self, reservation: Reservation, budgets: Sequence[Budget], own: Spend
    ) -> BudgetExceededError | RateLimitError | None:
        """Take ``reservation`` against ``budgets`` (None), or the reason it cannot be: a
        budget is spent, or calls in flight held the rest of it for :attr:`wait` seconds.
        ``own``: what the same run holds already (a call whose usage is still to come), which
        it does not wait for."""
        tenant, user = reservation.tenant, reservation.end_user_id
        deadline = time.monotonic() + self.wait

        def admit(standings: Sequence[Standing]) -> bool:
            for budget, standing in zip(budgets, standings, strict=True):
                spent = budget.spent(standing.spent)
                held = budget.spent(less(standing.reserved, own))
                if spent + max(held, Decimal(0)) >= budget.limit:
                    return False
            return True

        async def attempt() -> tuple[bool, BudgetExceededError | None]:
            now = dt.datetime.now(dt.UTC)
            scopes: list[Scope] = [
                (None if b.end_user_id is None else user, period_start(b.period, now))
                for b in budgets
            ]
            taken, standings = await self._take(reservation, scopes, admit)
            if taken:
                return True, None
            for budget, standing in zip(budgets, standings, strict=True):
                spent = budget.spent(standing.spent)
                if spent >= budget.limit:
                    return False, budget.exceeded(tenant, user, spent, now)
            return False, None

        taken, spent = await attempt()
        if taken or spent is not None:
            return spent
        # Calls in flight hold the rest: this process's waiters for the tenant queue, so one
        # of them at a time asks the ledger again, when a call here settles or after a pause
        # (one on another worker may have settled).
        async with self._queue(tenant):
            pause = 0.02
            while True:
                taken, spent = await attempt()
                if taken or spent is not None:
                    return spent
                if time.monotonic() >= deadline:
                    return RateLimitError(
                        f"the budget of tenant {tenant} is held by model calls in flight; "
                        "retry in a few seconds",
                        retry_after=5.0,
                    )
                await self._settlements.wait(pause)
                pause = min(pause * 2, 0.5)

    @contextlib.asynccontextmanager
    async def _queue(self, tenant: str) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        entry = self._queues.get(tenant)
        if entry is None or entry[0] is not loop:
            entry = self._queues[tenant] = (loop, asyncio.Lock(), [0])
        _, lock, waiting = entry
        waiting[0] += 1
        try:
            async with lock:
                yield
        finally:
            waiting[0] -= 1
            if not waiting[0] and self._queues.get(tenant) is entry:
                del self._queues[tenant]

    async def _take(
        self, reservation: Reservation, scopes: Sequence[Scope], admit: Callable[..., bool]
    ) -> tuple[bool, list[Standing]]:
        ledger = self._ledger()
        if isinstance(ledger, ReservingLedger):
            taking = asyncio.ensure_future(ledger.reserve(reservation, scopes, admit))
        else:
            taking = asyncio.ensure_future(self._local.reserve(ledger, reservation, scopes, admit))
        try:
            return await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The caller left while the ledger took it (a transaction runs to its end): once
            # it is taken, give it back, or it would hold the budget until it expires.
            with contextlib.suppress(Exception):
                if (await taking)[0]:
                    await self.release(reservation)
            raise

    async def settle(self, reservation: Reservation | None, entry: UsageEntry | None) -> None:
        """Record ``entry`` and drop ``reservation`` (either may be None), in one transaction
        where the ledger holds reservations."""
        ledger = self._ledger()
        try:
            if reservation is None:
                if entry is not None:
                    await ledger.record(entry)
            elif isinstance(ledger, ReservingLedger):
                await ledger.settle(reservation.id, entry)
            else:
                await self._local.settle(ledger, reservation.id, entry)
        finally:
            if reservation is not None:
                self._settlements.settled()

    async def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose call was never made (a failure leaves it to expire)."""
        try:
            await self.settle(reservation, None)
        except Exception as exc:
            log.warning("reservation_not_released", error=type(exc).__name__)
