"""List prices of OpenAI models, in USD per million tokens (illustrative; see the README).

UNVERIFIED: written from memory, not read from the provider's price page (this project's
machines cannot reach it), to show the mechanism; ``effective`` is the date
they were read, not the date OpenAI set them. OpenAI does not charge for writing its prompt cache.
``openai-compatible`` runtimes (Ollama, vLLM, llama.cpp) have no price: their runs cost nothing
the router can know. A host with other prices registers its own (see docs/usage-and-budgets.md).
"""

from __future__ import annotations

from copass_router import PriceRegistrar

SOURCE = "unverified list prices from memory; check the provider's price page"
#: The Agents API meters the model tokens of a session's turns; hosted-environment time or
#: built-in tool calls it may charge on top have no price here (none is guessed).
AGENTS_SOURCE = f"{SOURCE}; model tokens only (hosted environment and tool fees not included)"
EFFECTIVE = "2025-08-01"

#: model: (input, output, cached input)
PRICES = {
    "gpt-4o": ("2.50", "10.00", "1.25"),
    "gpt-4o-mini": ("0.15", "0.60", "0.075"),
    "gpt-4.1": ("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": ("0.40", "1.60", "0.10"),
}


def register_prices(register: PriceRegistrar) -> None:
    """Register every price above for ``openai`` and, for its model tokens, ``openai-agents``."""
    for provider, source in (("openai", SOURCE), ("openai-agents", AGENTS_SOURCE)):
        _register(register, provider, source)


def _register(register: PriceRegistrar, provider: str, source: str) -> None:
    for model, (input_price, output_price, cached) in PRICES.items():
        register(
            provider,
            model,
            input=input_price,
            output=output_price,
            cache_read=cached,
            cache_write="0",
            effective=EFFECTIVE,
            source=source,
        )
