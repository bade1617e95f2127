"""Two worker processes on one PostgreSQL store keep one usage ledger: what one spends, the other
counts against the budgets (a run is refused there), reports in ``GET /v1/usage``, and
``copass-router usage`` on the same store URL prints."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from copass_router import BudgetExceededError, RemoteRouter, StopReason

from .cluster import Worker, cluster

KEY = "acme-key-0123456789abcdef"
BUDGETS = [{"metric": "tokens", "limit": 5, "end_user_id": "*"}]
EXE = str(Path(sys.executable).parent / "copass-router")


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[list[Worker]]:
    env = {
        "COPASS_ROUTER_STORE": postgres_url,
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "COPASS_ROUTER_BUDGETS": json.dumps(BUDGETS),
        "SCALE_LEDGER": str(tmp_path / "tools.txt"),
    }
    with cluster(env, tmp_path) as pair:
        for worker in pair:
            worker.start(COPASS_ROUTER_API_KEYS=f"acme:{KEY}")
        yield pair


async def test_a_budget_one_worker_spent_refuses_runs_on_the_other(
    workers: list[Worker], postgres_url: str
) -> None:
    a, b = workers
    async with RemoteRouter(a.url, api_key=KEY) as on_a, RemoteRouter(b.url, api_key=KEY) as on_b:
        first = await on_a.complete(
            provider="echo", message="one two three four five six", end_user_id="ana"
        )
        assert first.stop_reason is StopReason.END_TURN
        with pytest.raises(BudgetExceededError) as caught:
            await on_b.complete(provider="echo", message="again", end_user_id="ana")
        assert caught.value.limit == "tenant acme, end user ana: 5 tokens per day"
        other = await on_b.complete(provider="echo", message="hi", end_user_id="bob")
        assert other.stop_reason is StopReason.END_TURN, "bob's budget is his own"

    async with httpx.AsyncClient(
        base_url=b.url, headers={"Authorization": f"Bearer {KEY}"}
    ) as http:
        body = (await http.get("/v1/usage")).json()
    assert body["tenant"] == "acme"
    assert [(r["end_user_id"], r["calls"]) for r in body["usage"]] == [("ana", 1), ("bob", 1)]

    env = {k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")}
    done = await asyncio.to_thread(
        subprocess.run,
        [EXE, "usage", "--json", "--tenant", "acme"],
        env={**env, "COPASS_ROUTER_STORE": postgres_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows == body["usage"], "the CLI on the store URL reads the workers' ledger"


@pytest.fixture
def budgeted_workers(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[list[Worker]]:
    env = {
        "COPASS_ROUTER_STORE": postgres_url,
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "COPASS_ROUTER_BUDGETS": json.dumps([{"metric": "tokens", "limit": 300}]),
        "SCALE_LEDGER": str(tmp_path / "tools.txt"),
    }
    with cluster(env, tmp_path) as pair:
        for worker in pair:
            worker.start(COPASS_ROUTER_API_KEYS=f"acme:{KEY}")
        yield pair


@pytest.mark.parametrize("count", [30, 1000], ids=["60-token-calls", "2000-token-calls"])
async def test_40_concurrent_runs_on_two_workers_overspend_a_budget_by_at_most_one_call(
    budgeted_workers: list[Worker], count: int
) -> None:
    """Each call reserves its estimate in the shared PostgreSQL ledger before it is made, so
    the runs of both workers together overspend the tenant's 300 tokens by one call at most."""
    a, b = budgeted_workers
    words = " ".join(f"word{i}" for i in range(count))
    async with RemoteRouter(a.url, api_key=KEY) as on_a, RemoteRouter(b.url, api_key=KEY) as on_b:
        routers = (on_a, on_b)

        async def one(i: int) -> int | None:
            try:
                result = await routers[i % 2].complete(
                    provider="echo", message=words, end_user_id=f"u{i}"
                )
            except BudgetExceededError:
                return None
            assert result.stop_reason is StopReason.END_TURN
            return result.usage.input_tokens + result.usage.output_tokens

        calls = await asyncio.gather(*(one(i) for i in range(40)))
    made = [tokens for tokens in calls if tokens is not None]
    async with httpx.AsyncClient(
        base_url=b.url, headers={"Authorization": f"Bearer {KEY}"}
    ) as http:
        rows = (await http.get("/v1/usage")).json()["usage"]
    spent = sum(r["input_tokens"] + r["output_tokens"] for r in rows)
    assert spent == sum(made), "every call is in the ledger"
    assert 300 <= spent <= 300 + max(made), (spent, made)
    assert len(made) < 40, "runs after the limit were refused"
