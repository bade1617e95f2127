"""Budgets: the latency a budget check adds to a turn (SQLite, and PostgreSQL), and the
overspend of 100 concurrent runs started at the limit (one process; across two worker
processes: bench/budgets_workers.py).

``python -m bench budgets``. The turns run on ``echo`` (no network) against a SQLite file or a
PostgreSQL schema (the local service, as figure 4w's: ``synchronous_commit=off``), so the figures
are the router's own cost: the ledger write every model call pays anyway, and the budget queries
(one per covering budget before the run and after each model call) on the store's ledger.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from copass_router import (
    Budget,
    BudgetExceededError,
    Event,
    Router,
    StopReason,
    ToolContext,
    Usage,
    hookimpl,
    tool,
)

from .report import Figure

TURNS = 300
CONCURRENT = 100
LIMIT = 20_000


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


class CallSizes:
    """Middleware noting the tokens of every model call."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[int]] = {}

    @hookimpl
    def copass_router_process_event(self, event: Event, context: ToolContext) -> Event:
        if isinstance(event, Usage):
            size = event.input_tokens + event.output_tokens
            self.by_run.setdefault(context.run_id, []).append(size)
        return event


def _router(store: str, budgets: list[Budget], plugins: tuple[Any, ...] = ()) -> Router:
    return Router(
        store=store,
        environ={},
        load_entry_points=False,
        budgets=budgets,
        plugins=plugins,
        tools=[lookup],
    )


async def _turn_times(router: Router, turns: int) -> list[float]:
    times = []
    for i in range(turns):
        start = time.perf_counter()
        await router.complete(
            provider="echo", message="hello", end_user_id=f"u{i % 10}", metadata={"tenant": "t"}
        )
        times.append(time.perf_counter() - start)
    return times


async def _latency(plain_store: str, budgeted_store: str) -> tuple[float, float, float]:
    """Median turn time without budgets, with two covering budgets, and their difference."""
    plain = _router(plain_store, [])
    budgeted = _router(
        budgeted_store,
        [
            Budget(metric="tokens", limit=10**12, tenant="t"),
            Budget(metric="cost_usd", limit=10**6, tenant="*", end_user_id="*"),
        ],
    )
    try:
        await _turn_times(plain, 30)  # warm up: plugins, schema, first connections
        await _turn_times(budgeted, 30)
        a = statistics.median(await _turn_times(plain, TURNS))
        b = statistics.median(await _turn_times(budgeted, TURNS))
    finally:
        await plain.aclose()
        await budgeted.aclose()
    return a, b, b - a


async def _overspend(tmp: Path, prespent: bool) -> dict[str, Any]:
    """Start 100 runs at once against one tenant budget; how far past the limit they go."""
    sizes = CallSizes()
    router = _router(f"sqlite:///{tmp / f'over-{prespent}.db'}", [], (sizes,))
    try:
        if prespent:  # spend up to just under the limit first: the runs start "at the limit"
            filler = 0
            while filler < LIMIT - 200:
                r = await router.complete(
                    provider="echo", message="x " * 150, metadata={"tenant": "acme"}
                )
                filler += r.usage.input_tokens + r.usage.output_tokens
        sizes.by_run.clear()
        router.budgets.set(Budget(metric="tokens", limit=LIMIT, tenant="acme"))
        before = sum(r.tokens for r in await router.usage(tenant="acme"))

        async def one(i: int) -> StopReason | None:
            try:
                result = await router.complete(
                    provider="echo",
                    message='/loop lookup {"key": "k"}',
                    end_user_id=f"u{i}",
                    metadata={"tenant": "acme"},
                    max_tool_rounds=100,
                )
            except BudgetExceededError:
                return None
            return result.stop_reason

        outcomes = await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
        spent = sum(r.tokens for r in await router.usage(tenant="acme"))
    finally:
        await router.aclose()
    over = spent - LIMIT
    # "At most one model call": the overspend is at most the largest run's last call (a run's
    # calls grow with its history, so its last is its largest).
    last_calls = [calls[-1] for calls in sizes.by_run.values()]
    return {
        "spent_before": before,
        "spent": spent,
        "overspend_tokens": over,
        "overspend_in_calls": over / max(last_calls),
        "bound_tokens": max(last_calls),
        "calls": sum(len(c) for c in sizes.by_run.values()),
        "runs_with_calls": len(last_calls),
        "stopped_budget": sum(o is StopReason.BUDGET for o in outcomes),
        "refused": sum(o is None for o in outcomes),
    }


def _latency_figure(store: str, timings: tuple[float, float, float]) -> Figure:
    plain, budgeted, added = timings
    return Figure(
        f"budget check: added latency per turn (2 budgets, {store})",
        added * 1000,
        "ms",
        "< 2 ms",
        ok=added < 0.002,
        detail={"turn_ms_without": plain * 1000, "turn_ms_with": budgeted * 1000},
    )


async def _measure() -> list[Figure]:
    from .scale_out import services

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await _latency(f"sqlite:///{tmp}/plain.db", f"sqlite:///{tmp}/budgeted.db")
        async with services() as one, services() as two:
            postgres = await _latency(one["COPASS_ROUTER_STORE"], two["COPASS_ROUTER_STORE"])
        cold = await _overspend(Path(tmp), prespent=False)
        at_limit = await _overspend(Path(tmp), prespent=True)
    figures = [_latency_figure("SQLite", sqlite), _latency_figure("PostgreSQL", postgres)]
    for name, data in (("fresh budget", cold), ("at the limit", at_limit)):
        within = data["overspend_tokens"] <= data["bound_tokens"]
        figures.append(
            Figure(
                f"overspend, {CONCURRENT} concurrent runs, {name} (in the largest call)",
                data["overspend_in_calls"],
                "calls",
                "<= 1 (one call)",
                ok=within,
                detail=data,
            )
        )
    return figures


def run() -> list[Figure]:
    """The figures of this module."""
    return asyncio.run(_measure())


def _print(figures: list[Figure], out: Callable[[str], None] = print) -> None:
    for f in figures:
        out(f"{f.name}: {f.value:.3f} {f.unit} (target {f.target}) {f.detail}")


if __name__ == "__main__":
    _print(run())
