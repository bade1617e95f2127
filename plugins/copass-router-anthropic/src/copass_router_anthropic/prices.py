"""List prices of Claude models, in USD per million tokens (illustrative; see the README).

UNVERIFIED: written from memory, not read from the provider's price page (this project's
machines cannot reach it), to show the mechanism; ``effective`` is a placeholder, not the date
Anthropic set them. Cache write is the 5-minute cache's price. Only models whose price this
plugin's authors had some idea of are listed: ``claude-opus-4-7`` and ``claude-sonnet-4-6``
have no
registered price, so their calls have no cost until a host registers one (see
docs/usage-and-budgets.md). Managed Agents may bill session or environment time besides tokens;
that is not modelled.
"""

from __future__ import annotations

from copass_router import PriceRegistrar

SOURCE = "unverified list prices from memory; check the provider's price page"
EFFECTIVE = "2025-11-01"

#: model: (input, output, cache read, cache write)
PRICES = {
    "claude-haiku-4-5": ("1.00", "5.00", "0.10", "1.25"),
    "claude-sonnet-4-5": ("3.00", "15.00", "0.30", "3.75"),
    "claude-opus-4-5": ("5.00", "25.00", "0.50", "6.25"),
}


def register_prices(register: PriceRegistrar) -> None:
    """Register every price above for provider ``anthropic``."""
    for model, (input_price, output_price, read, write) in PRICES.items():
        register(
            "anthropic",
            model,
            input=input_price,
            output=output_price,
            cache_read=read,
            cache_write=write,
            effective=EFFECTIVE,
            source=SOURCE,
        )
