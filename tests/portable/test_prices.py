"""A provider plugin's registered prices price its model calls, through the real SDK."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import copass_router_openai
from copass_router_openai.emulator import running_emulator

from copass_router import Router, RunFinished, Usage

KEY = "sk-prices-0123456789abcdef"


async def test_openai_calls_carry_the_plugin_s_list_price(
    make_router: Callable[..., Router],
) -> None:
    with running_emulator(api_key=KEY) as emulator:
        router = make_router(
            plugins=[copass_router_openai],
            environ={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": emulator.base_url},
        )
        result = await router.complete(
            provider="openai", model="gpt-4o-mini", message="price this", end_user_id="payer"
        )
        unpriced = await router.complete(provider="openai", model="gpt-test", message="hi")
    [usage] = [e for e in result.events if isinstance(e, Usage)]
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    expected = (
        usage.input_tokens * Decimal("0.15")
        + usage.cache_read_tokens * Decimal("0.075")
        + usage.output_tokens * Decimal("0.60")
    ) / 1_000_000
    assert usage.cost_usd == expected
    finished = result.events[-1]
    assert isinstance(finished, RunFinished) and finished.cost_usd == expected
    assert unpriced.events[-1].cost_usd is None  # type: ignore[attr-defined]
    [row] = await router.usage(end_user_id="payer")
    assert (row.provider, row.model, row.cost_usd) == ("openai", "gpt-4o-mini", expected)
