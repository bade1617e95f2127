"""The usage ledger: tokens and cost per tenant, end user, provider, model and day.

:class:`UsageLedger` is the interface (a host may bring its own, e.g. on its billing database);
:class:`~copass_router.store._usage_sqlite.SQLiteUsageLedger` is the embedded default, and
:class:`~copass_router.store._usage_postgres.PostgresUsageLedger` the one beside a PostgreSQL store.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from copass_router._types import TokenCounts

#: The tenant of runs that name none (``metadata["tenant"]``; a hosted router sets it per key).
DEFAULT_TENANT = "default"


@attrs.frozen
class UsageEntry:
    """One priced model call, as the router records it. ``cost_usd`` None: no price."""

    tenant: str
    end_user_id: str
    provider: str
    model: str
    day: dt.date
    usage: TokenCounts
    cost_usd: Decimal | None = None


@attrs.frozen
class UsageRow:
    """Totals of one (tenant, end user, provider, model, day).

    ``calls`` counts model calls; ``unpriced_calls`` those without a price (their tokens count,
    their cost is unknown, not zero).
    """

    tenant: str
    end_user_id: str
    provider: str
    model: str
    day: dt.date
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0

    @property
    def tokens(self) -> int:
        """Every token of the row, of all four kinds."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (``day`` ISO, ``cost_usd`` an exact decimal string)."""
        data = attrs.asdict(self)
        data["day"] = self.day.isoformat()
        data["cost_usd"] = str(self.cost_usd)
        return data


@attrs.frozen
class Spend:
    """What a tenant (or one of its end users) spent since a day: tokens and USD."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)


@runtime_checkable
class UsageLedger(Protocol):
    """Where model calls are counted. Each method is one round trip to the ledger's store."""

    async def record(self, entry: UsageEntry) -> None:
        """Add one model call to its (tenant, end user, provider, model, day) row."""

    async def query(
        self,
        *,
        tenant: str | None = None,
        end_user_id: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[UsageRow]:
        """Rows matching every given filter (``until`` inclusive), by day then key."""

    async def spend(self, tenant: str, end_user_id: str | None, since: dt.date) -> Spend:
        """The totals of ``tenant`` (or of one of its end users) from ``since`` on."""

    async def close(self) -> None:
        """Release the ledger's connection."""
