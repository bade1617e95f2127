"""Budget reservations: an estimate of each model call, held against the budgets while it runs.

Before a budgeted model call the router reserves what the call may cost: its input estimated from
what it is sent (:data:`~copass_router.accounting._metering.CHARS_PER_TOKEN` characters a token)
plus its output cap (the run's ``max_output_tokens``, else :data:`RESERVE_OUTPUT_ENV`, else
:data:`DEFAULT_RESERVED_OUTPUT`). A call is let through only while what the ledger counts plus
what other calls hold is under every budget that covers it; the reservation and its check are one
transaction in the ledger's database (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock per
tenant), so workers on one ledger see each other's reservations. When the call's usage comes, the
reservation is settled: dropped in the transaction that records the usage.

A ledger that cannot hold reservations (a host's own) gets them in this process
(:class:`LocalReservations`): the bound then holds per process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from copass_router.accounting._usage import Spend, UsageEntry, UsageLedger

#: Output tokens reserved for a call whose run sets no ``max_output_tokens``.
DEFAULT_RESERVED_OUTPUT = 4096
#: The environment variable that changes :data:`DEFAULT_RESERVED_OUTPUT`.
RESERVE_OUTPUT_ENV = "COPASS_ROUTER_RESERVE_OUTPUT_TOKENS"
#: Seconds a reservation holds when its call never settles it (its worker died).
RESERVATION_TTL = 600.0
#: Seconds a call waits for other calls' reservations to settle before it gives up.
RESERVE_WAIT = 30.0


@attrs.frozen
class Reservation:
    """What one model call may spend, held until its usage is recorded."""

    tenant: str
    end_user_id: str
    tokens: int
    cost_usd: Decimal = Decimal(0)
    ttl: float = RESERVATION_TTL
    id: str = attrs.field(factory=lambda: uuid.uuid4().hex)

    @property
    def spend(self) -> Spend:
        return Spend(self.tokens, self.cost_usd)


@attrs.frozen
class Standing:
    """One budget's scope as a reservation finds it: spent (in the ledger) and held by calls in
    flight (their reservations)."""

    spent: Spend
    reserved: Spend


#: A budget scope: the end user (None: the whole tenant) and the first day of its period.
Scope = tuple[str | None, dt.date]
#: Decides, from each scope's standing, whether the reservation may be taken.
Admit = Callable[[Sequence[Standing]], bool]


@runtime_checkable
class ReservingLedger(Protocol):
    """A :class:`~copass_router.UsageLedger` that holds reservations in its own database."""

    async def reserve(
        self, reservation: Reservation, scopes: Sequence[Scope], admit: Admit
    ) -> tuple[bool, list[Standing]]:
        """In one transaction, serialised per tenant: read each scope's standing and, when
        ``admit`` says so, take ``reservation``. Returns whether it was taken, and the
        standings it was decided on."""

    async def settle(self, reservation_id: str, entry: UsageEntry | None) -> None:
        """Drop a reservation and record its call's usage (``entry``; None: nothing to
        record), in one transaction."""


def add(a: Spend, b: Spend) -> Spend:
    return Spend(a.tokens + b.tokens, a.cost_usd + b.cost_usd)


def less(a: Spend, b: Spend) -> Spend:
    return Spend(a.tokens - b.tokens, a.cost_usd - b.cost_usd)


class LocalReservations:
    """Reservations kept in this process, for a ledger that cannot keep them itself."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Reservation, float]] = {}
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    def _reserved(self, tenant: str, end_user_id: str | None) -> Spend:
        now = time.monotonic()
        total = Spend()
        for key, (held, expires) in list(self._held.items()):
            if expires <= now:
                del self._held[key]
            elif held.tenant == tenant and end_user_id in (None, held.end_user_id):
                total = add(total, held.spend)
        return total

    async def reserve(
        self,
        ledger: UsageLedger,
        reservation: Reservation,
        scopes: Sequence[Scope],
        admit: Admit,
    ) -> tuple[bool, list[Standing]]:
        async with self._guard():
            standings = []
            for user, since in scopes:
                spent = await ledger.spend(reservation.tenant, user, since)
                standings.append(Standing(spent, self._reserved(reservation.tenant, user)))
            taken = admit(standings)
            if taken:
                self._held[reservation.id] = (reservation, time.monotonic() + reservation.ttl)
            return taken, standings

    async def settle(
        self, ledger: UsageLedger, reservation_id: str, entry: UsageEntry | None
    ) -> None:
        try:
            if entry is not None:
                await ledger.record(entry)
        finally:
            self._held.pop(reservation_id, None)


class Settlements:
    """Wakes the calls of this process that wait for reservations to settle."""

    def __init__(self) -> None:
        self._waiting: set[asyncio.Event] = set()

    def settled(self) -> None:
        for event in self._waiting:
            event.set()
        self._waiting.clear()

    async def wait(self, within: float) -> None:
        """Until a reservation settles here, or ``within`` seconds (one on another worker may
        have settled meanwhile)."""
        event = asyncio.Event()
        self._waiting.add(event)
        try:
            async with asyncio.timeout(within):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            self._waiting.discard(event)
