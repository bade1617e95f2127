"""List prices of Gemini models on Vertex AI, in USD per million tokens (illustrative).

Read from cloud.google.com/vertex-ai/generative-ai/pricing in 2025 (prompts up to 200k tokens;
longer prompts cost more and are not modelled); ``effective`` is the date they were read, not the
date Google set them. Cache read is the context-cache price; Google bills cache storage per hour
rather than per token written, so cache write is 0 here. The ``gemini-3.1-*`` models have no
registered price (unknown to this plugin's authors), so their calls have no cost until a host
registers one. Agent Engine also bills runtime (vCPU and memory hours): not modelled.
"""

from __future__ import annotations

from copass_router import PriceRegistrar

SOURCE = "cloud.google.com/vertex-ai/generative-ai/pricing, <=200k prompts, read 2025-08"
EFFECTIVE = "2025-08-01"

#: model: (input, output, cache read)
PRICES = {
    "gemini-2.5-pro": ("1.25", "10.00", "0.31"),
    "gemini-2.5-flash": ("0.30", "2.50", "0.075"),
}


def register_prices(register: PriceRegistrar) -> None:
    """Register every price above for provider ``google``."""
    for model, (input_price, output_price, read) in PRICES.items():
        register(
            "google",
            model,
            input=input_price,
            output=output_price,
            cache_read=read,
            cache_write="0",
            effective=EFFECTIVE,
            source=SOURCE,
        )
