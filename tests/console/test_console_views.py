"""What the console's pages are built from: the session search and the usage chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from copass_router import Router
from copass_router.accounting._usage import UsageRow
from copass_router.server.console.charts import usage_chart
from copass_router.server.console.session_search import SessionQuery, search_sessions


async def test_sessions_are_found_by_tenant_end_user_provider_and_date(
    make_router: Callable[..., Router],
) -> None:
    router = make_router()
    made = {}
    for stored in ("acme:alice", "acme:bob", "globex:alice"):
        result = await router.complete(provider="echo", message="hi", end_user_id=stored)
        made[stored] = result.session_id
    today = dt.datetime.now(dt.UTC).date()

    async def found(**query: Any) -> set[str]:
        result = await search_sessions(router, SessionQuery(**query), tenants=True)
        return {row.session_id for row in result.rows}

    assert await found() == set(made.values())
    assert await found(tenant="acme") == {made["acme:alice"], made["acme:bob"]}
    assert await found(end_user="alice") == {made["acme:alice"], made["globex:alice"]}
    assert await found(tenant="globex", end_user="alice") == {made["globex:alice"]}
    assert await found(tenant="globex", end_user="bob") == set()
    assert await found(provider="echo", since=today, until=today) == set(made.values())
    assert await found(provider="anthropic") == set()
    assert await found(until=today - dt.timedelta(days=1)) == set()
    assert await found(since=today + dt.timedelta(days=1)) == set()
    [row] = (await search_sessions(router, SessionQuery(tenant="globex"), tenants=True)).rows
    assert (row.tenant, row.end_user, row.providers, row.first_message) == (
        "globex",
        "alice",
        ("echo",),
        "hi",
    )


def _row(day: dt.date, provider: str, cost: str, tokens: int) -> UsageRow:
    return UsageRow(
        "acme", "alice", provider, f"{provider}-1", day, calls=1, input_tokens=tokens,
        cost_usd=Decimal(cost),
    )  # fmt: skip


def test_the_chart_draws_each_days_exact_figures_stacked_by_key() -> None:
    first, second = dt.date(2026, 1, 1), dt.date(2026, 1, 3)
    rows = [
        _row(first, "anthropic", "0.0000132", 10),
        _row(first, "openai", "0.5", 20),
        _row(second, "openai", "0.25", 5),
        _row(second, "openai", "0.25", 5),
    ]
    chart = usage_chart(rows, "provider", "cost_usd", first, second)
    drawn = {(b.day, b.series): b.value for b in chart.bars}
    assert drawn == {
        ("2026-01-01", "anthropic"): "0.0000132",
        ("2026-01-01", "openai"): "0.5",
        ("2026-01-03", "openai"): "0.5",
    }
    tallest = max(b.height for b in chart.bars if b.day == "2026-01-01")
    day_one = sum(b.height for b in chart.bars if b.day == "2026-01-01")
    day_three = sum(b.height for b in chart.bars if b.day == "2026-01-03")
    assert day_one > day_three > 0 and tallest < day_one  # stacked, to scale
    totals = {t.key: (t.calls, t.tokens, t.cost_usd) for t in chart.totals}
    assert totals == {
        "anthropic": (1, 10, Decimal("0.0000132")),
        "openai": (3, 30, Decimal("1.0")),
    }
    by_tokens = usage_chart(rows, "model", "tokens", first, second)
    assert {(b.day, b.series): b.value for b in by_tokens.bars} == {
        ("2026-01-01", "anthropic-1"): "10",
        ("2026-01-01", "openai-1"): "20",
        ("2026-01-03", "openai-1"): "10",
    }
