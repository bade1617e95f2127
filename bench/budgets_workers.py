"""Budgets across workers: the overspend of 100 concurrent runs on one tenant's budget, spread
over two worker processes (``copass-router serve --workers 2``) that share one PostgreSQL
store, so one usage ledger, and a Redis coordinator.

``python -m bench budgets_workers``. Each run is a tool loop on ``echo`` (its tool is not
registered on the workers: every round's result is an error, and the loop goes on until the
budget stops it). "At the limit": the ledger already holds the tenant's spend up to 200 tokens
under the limit when the runs start; "fresh": it holds nothing. Each call reserves its estimate
in the ledger before it is made, so the bound says the overspend is at most one model call, the
largest (not one per run in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from copass_router import (
    BudgetExceededError,
    RemoteRouter,
    StopReason,
    TokenCounts,
    Usage,
    UsageEntry,
)
from copass_router.run._usage_api import open_ledger

from .hosted_harness import UNCAPPED
from .report import Figure
from .scale_out import served, services

CONCURRENT = 100
LIMIT = 20_000
WORKERS = 2
KEY = "acme-bench-key-0123456789abcdef"


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process."""
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    return 0.0


def _workers(parent: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]


async def _overspend(prespent: bool) -> dict[str, Any]:
    import httpx

    async with services() as env:
        ledger = open_ledger(env["COPASS_ROUTER_STORE"], None)
        try:
            budgets = [{"metric": "tokens", "limit": LIMIT, "tenant": "acme"}]
            worker_env = {
                **env,
                **UNCAPPED,
                "COPASS_ROUTER_API_KEYS": f"acme:{KEY}",
                "COPASS_ROUTER_BUDGETS": json.dumps(budgets),
            }
            async with served(worker_env, WORKERS) as (url, pid):
                limits = httpx.Limits(max_connections=CONCURRENT + 10)
                transport = httpx.AsyncHTTPTransport(limits=limits)
                async with RemoteRouter(url, KEY, timeout=120, transport=transport) as remote:
                    await _warm_up(remote)
                    before = sum(r.tokens for r in await ledger.query(tenant="acme"))
                    if prespent:  # the tenant's spend so far: 200 tokens under the limit
                        today = dt.datetime.now(dt.UTC).date()
                        used = TokenCounts(input_tokens=LIMIT - 200 - before)
                        entry = UsageEntry("acme", "earlier", "echo", "echo-1", today, used)
                        await ledger.record(entry)
                        before = LIMIT - 200
                    pids = _workers(pid)
                    cpu = {p: _cpu(p) for p in pids}
                    results = await asyncio.gather(
                        *(_one(remote, i) for i in range(CONCURRENT)), return_exceptions=True
                    )
                    worker_cpu = [round(_cpu(p) - cpu[p], 2) for p in pids]
            spent = sum(r.tokens for r in await ledger.query(tenant="acme"))
        finally:
            await ledger.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} runs failed, first: {errors[0]!r}")
    sizes = [calls for _, calls in results if calls]  # type: ignore[misc]
    last_calls = [calls[-1] for calls in sizes]
    over = spent - LIMIT
    return {
        "spent_before": before,
        "spent": spent,
        "overspend_tokens": over,
        "overspend_in_calls": over / max(last_calls) if last_calls else 0.0,
        "bound_tokens": max(last_calls, default=0),
        "calls": sum(len(c) for c in sizes),
        "runs_with_calls": len(last_calls),
        "stopped_budget": sum(r[0] is StopReason.BUDGET for r in results),  # type: ignore[index]
        "refused": sum(r[0] is None for r in results),  # type: ignore[index]
        "worker_cpu_s": worker_cpu,
    }


async def _warm_up(remote: RemoteRouter) -> None:
    """A few short runs first (new connections: both workers open their pools)."""
    for i in range(10):
        await remote.complete(provider="echo", message="warm", end_user_id=f"warm-{i}")


async def _one(remote: RemoteRouter, i: int) -> tuple[StopReason | None, list[int]]:
    """One tool-looping run: its stop reason (None: refused) and each model call's tokens."""
    try:
        result = await remote.complete(
            provider="echo",
            message='/loop lookup {"key": "k"}',
            end_user_id=f"u{i}",
            max_tool_rounds=100,
        )
    except BudgetExceededError:
        return None, []
    calls = [e.input_tokens + e.output_tokens for e in result.events if isinstance(e, Usage)]
    return result.stop_reason, calls


async def _measure() -> list[Figure]:
    figures = []
    for name, prespent in (("at the limit", True), ("fresh budget", False)):
        data = await _overspend(prespent)
        figures.append(
            Figure(
                f"overspend, {CONCURRENT} concurrent runs over {WORKERS} workers (PostgreSQL "
                f"ledger), {name} (in the largest call)",
                data["overspend_in_calls"],
                "calls",
                "<= 1 (one call)",
                ok=0 <= data["overspend_tokens"] <= data["bound_tokens"],
                detail=data,
            )
        )
    return figures


def run() -> list[Figure]:
    """The figures of this module."""
    return asyncio.run(_measure())


if __name__ == "__main__":
    for f in run():
        print(f"{f.name}: {f.value:.3f} {f.unit} (target {f.target}) {f.detail}")
