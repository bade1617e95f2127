"""Model prices and what a model call costs: the price book plugins fill through a hook.

A price is USD per million tokens of each kind (input, output, cache read, cache write), valid
from an effective date until the next price of the same model. A model call is priced with the
price in effect on its day (UTC). A model without a price has no cost (``None``), never a guessed
one. Costs are :class:`~decimal.Decimal`, so sums are exact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from copass_router._errors import InvalidRequestError

if TYPE_CHECKING:
    from copass_router._types import TokenCounts

_MILLION = Decimal(1_000_000)


def as_price(value: Decimal | float | int | str, name: str) -> Decimal:
    """A non-negative USD amount from a number or a numeric string (floats by their text)."""
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise InvalidRequestError(f"{name} must be a number, not {value!r}", field=name) from None
    if not price.is_finite() or price < 0:
        raise InvalidRequestError(f"{name} must be a non-negative number", field=name)
    return price


def as_date(value: dt.date | str) -> dt.date:
    """A date from a ``date`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"effective must be a date (YYYY-MM-DD), not {value!r}", field="effective"
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens of one model, from ``effective`` on.

    ``source`` says where the numbers come from (a price page and when it was read).
    """

    provider: str
    model: str
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    effective: dt.date
    source: str = ""

    def cost(self, usage: TokenCounts) -> Decimal:
        """What ``usage`` costs at this price, in USD."""
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        )
        return total / _MILLION


class PriceBook:
    """Every registered price, by provider and model, each model's prices by effective date."""

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        self._prices: dict[tuple[str, str], list[ModelPrice]] = {}
        for price in prices:
            self.add(price)

    def add(self, price: ModelPrice) -> None:
        """Add a price (a later one for the same model and date replaces the earlier)."""
        dated = self._prices.setdefault((price.provider, price.model), [])
        dated[:] = [p for p in dated if p.effective != price.effective]
        dated.append(price)
        dated.sort(key=lambda p: p.effective)

    def register(
        self,
        provider: str,
        model: str,
        *,
        input: Decimal | float | str,
        output: Decimal | float | str,
        cache_read: Decimal | float | str,
        cache_write: Decimal | float | str,
        effective: dt.date | str,
        source: str = "",
    ) -> None:
        """The ``register`` of ``copass_router_register_prices`` (see :class:`PriceRegistrar`)."""
        self.add(
            ModelPrice(
                provider,
                model,
                as_price(input, "input"),
                as_price(output, "output"),
                as_price(cache_read, "cache_read"),
                as_price(cache_write, "cache_write"),
                as_date(effective),
                source,
            )
        )

    def price(self, provider: str, model: str, day: dt.date | None = None) -> ModelPrice | None:
        """The price of ``model`` on ``provider`` in effect on ``day`` (default: today, UTC)."""
        dated = self._prices.get((provider, model))
        if not dated:
            return None
        day = day or dt.datetime.now(dt.UTC).date()
        valid = [p for p in dated if p.effective <= day]
        return valid[-1] if valid else None

    def cost(
        self, provider: str, model: str, usage: TokenCounts, day: dt.date | None = None
    ) -> Decimal | None:
        """What ``usage`` of ``model`` costs in USD, or None when the model has no price."""
        price = self.price(provider, model, day)
        return None if price is None else price.cost(usage)

    def all(self) -> list[ModelPrice]:
        """Every price, by provider, model and date."""
        return sorted(
            (p for dated in self._prices.values() for p in dated),
            key=lambda p: (p.provider, p.model, p.effective),
        )
