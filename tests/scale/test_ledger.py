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
