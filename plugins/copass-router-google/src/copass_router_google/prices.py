"""List prices of Gemini models on Vertex AI, in USD per million tokens (illustrative).

UNVERIFIED: written from memory, not read from the provider's price page (this project's
machines cannot reach it), to show the mechanism; ``effective`` is a placeholder. Prompts up to
200k tokens (longer prompts cost more and are not modelled). Cache read is the context-cache
price; Google bills cache storage per hour rather than per token written, so cache write is 0
here. The ``gemini-3.1-*`` models have no
registered price (unknown to this plugin's authors), so their calls have no cost until a host
registers one. Agent Engine also bills runtime (vCPU and memory hours): not modelled.

``gemini-agents`` (the Interactions API) bills the model's tokens: the same table is registered
for it, with the same caveat. Hosted-agent prices are unpublished and never guessed: a model
with no entry here has no cost. Built-in tools (search queries) are billed per use by Google:
the counts ride in each ``Usage`` event's ``provider_data``, unpriced.
"""

from __future__ import annotations

from copass_router import PriceRegistrar

SOURCE = "unverified list prices from memory; check the provider's price page"
EFFECTIVE = "2025-08-01"

#: model: (input, output, cache read)
PRICES = {
    "gemini-2.5-pro": ("1.25", "10.00", "0.31"),
    "gemini-2.5-flash": ("0.30", "2.50", "0.075"),
}


def register_prices(register: PriceRegistrar) -> None:
    """Register every price above for providers ``google`` and ``gemini-agents``."""
    for provider, model in ((p, m) for p in ("google", "gemini-agents") for m in PRICES):
        input_price, output_price, read = PRICES[model]
        register(
            provider,
            model,
            input=input_price,
            output=output_price,
            cache_read=read,
            cache_write="0",
            effective=EFFECTIVE,
            source=SOURCE,
        )
