"""Approvals with two workers sharing PostgreSQL and Redis: a decision that lands on the worker
not running the run (a load balancer's pick, a client that reconnected elsewhere) reaches the
waiting call; no decision within the timeout denies it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from copass_router import (
    ApprovalRequested,
    Event,
    RemoteRouter,
    RunFinished,
    StopReason,
    ToolResult,
    event_from_json,
)

from ..scale import cluster as scale_cluster
from ..services import postgres_url, redis_url  # noqa: F401 - fixtures

WORKER = str(Path(__file__).with_name("approval_worker.py"))


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "refunds.txt"
    path.touch()
    return path


@pytest.fixture
def workers(
    tmp_path: Path,
    ledger: Path,
    postgres_url: str,  # noqa: F811
    redis_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[scale_cluster.Worker]]:
    monkeypatch.setattr(scale_cluster, "WORKER", WORKER)
    env = {
        "COPASS_ROUTER_STORE": postgres_url,
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "APPROVAL_LEDGER": str(ledger),
    }
    with scale_cluster.cluster(env, tmp_path) as pair:
        yield pair


async def _start(workers: list[scale_cluster.Worker], wait: float) -> None:
    await asyncio.gather(*(asyncio.to_thread(w.start, APPROVAL_TIMEOUT=str(wait)) for w in workers))


def _events(raw: str) -> list[Event]:
    events = []
    for frame in raw.split("\n\n"):
        for line in frame.splitlines():
            if line.startswith("data:"):
                events.append(event_from_json(line[5:].strip()))
    return events


async def _until_asked(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[str, str]:
    """Start a run and read its stream until its call waits; then the client goes away."""
    async with http.stream("POST", f"{url}/v1/runs", json=body) as response:
        assert response.status_code == 200, await response.aread()
        run_id = response.headers["x-copass-run-id"]
        raw = ""
        async for chunk in response.aiter_text():
            raw += chunk
            if "event: approval_requested" in raw and raw.endswith("\n\n"):
                break
    (asked,) = [e for e in _events(raw) if isinstance(e, ApprovalRequested)]
    return run_id, asked.call_id


async def test_a_decision_on_the_other_worker_reaches_the_waiting_run(
    workers: list[scale_cluster.Worker], ledger: Path
) -> None:
    a, b = workers
    await _start(workers, wait=60)
    body = {"provider": "echo", "message": '/tool refund {"order": "o-1"}', "end_user_id": "u-1"}
    async with httpx.AsyncClient(timeout=30) as http:
        run_id, call_id = await _until_asked(http, a.url, body)
        # The client comes back through the other worker: it lists and decides there.
        where, user = f"{b.url}/v1/runs/{run_id}/approvals", {"end_user_id": "u-1"}
        listed = (await http.get(where, params=user)).json()
        (waiting,) = listed["pending"]
        assert waiting == {
            "call_id": call_id,
            "name": "refund",
            "arguments": {"order": "o-1"},
            "session_id": waiting["session_id"],
            "provider": "echo",
        }
        stranger = await http.post(
            f"{where}/{call_id}", params={"end_user_id": "u-2"}, json={"approved": True}
        )
        assert stranger.status_code == 404
        ok = await http.post(f"{where}/{call_id}", params=user, json={"approved": True})
        assert ok.status_code == 200, ok.text
        again = await http.post(f"{where}/{call_id}", params=user, json={"approved": False})
        assert again.status_code == 409
        resumed = await http.get(f"{b.url}/v1/runs/{run_id}/events", params=user)
    events = _events(resumed.text)
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.output == "refunded o-1" and not result.is_error
    assert isinstance(events[-1], RunFinished)
    assert events[-1].stop_reason is StopReason.END_TURN
    # It ran once, on the worker running the run.
    assert (await asyncio.to_thread(ledger.read_text)).splitlines() == [f"{a.pid} o-1"]


async def test_a_denial_through_a_remote_router_on_the_other_worker(
    workers: list[scale_cluster.Worker], ledger: Path
) -> None:
    a, b = workers
    await _start(workers, wait=60)
    events: list[Event] = []
    async with RemoteRouter(a.url, timeout=60) as here, RemoteRouter(b.url, timeout=60) as there:
        async for event in here.run(
            provider="echo", message='/tool refund {"order": "o-2"}', end_user_id="u-3"
        ):
            events.append(event)
            if isinstance(event, ApprovalRequested):
                assert await there.deny(event.run_id, event.call_id, "too big", end_user_id="u-3")
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.is_error and "too big" in result.output
    assert await asyncio.to_thread(ledger.read_text) == ""


async def test_no_decision_within_the_timeout_denies_the_call(
    workers: list[scale_cluster.Worker], ledger: Path
) -> None:
    a, b = workers
    await _start(workers, wait=1)
    body = {"provider": "echo", "message": '/tool refund {"order": "o-3"}', "end_user_id": "u-4"}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{a.url}/v1/runs", json=body)
        events = _events(response.text)
        (asked,) = [e for e in events if isinstance(e, ApprovalRequested)]
        late = await http.post(
            f"{b.url}/v1/runs/{asked.run_id}/approvals/{asked.call_id}",
            params={"end_user_id": "u-4"},
            json={"approved": True},
        )
    assert late.status_code == 409
    assert json.loads(late.text)["code"] == "approval_not_waiting"
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.is_error and "no decision within 1 s" in result.output
    assert await asyncio.to_thread(ledger.read_text) == ""
