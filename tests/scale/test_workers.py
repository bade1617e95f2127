"""Two workers, one router: PostgreSQL for sessions, Redis for what is shared live.

Each worker is its own process on its own port (a load balancer in front would pick one per
request): a callback landing on the wrong worker still reaches its run, and a worker killed
mid-turn (SIGKILL: no drain, no goodbye) costs its client one clean error, its session one
lease, and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copass_router import (
    Error,
    RemoteRouter,
    RunFinished,
    RunStarted,
    SessionBusyError,
    StopReason,
    TurnStatus,
)

from .cluster import Worker, cluster

LEASE_SECONDS = 3
KEY = "sk-ant-scale-0123456789abcdef"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.txt"
    path.touch()
    return path


@pytest.fixture
def workers(
    tmp_path: Path, ledger: Path, postgres_url: str, redis_url: str
) -> Iterator[list[Worker]]:
    env = {
        "COPASS_ROUTER_STORE": f"{postgres_url}&lease_seconds={LEASE_SECONDS}",
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "SCALE_LEDGER": str(ledger),
        "ANTHROPIC_API_KEY": KEY,
    }
    with cluster(env, tmp_path) as pair:
        yield pair


def _lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines()


async def eventually(predicate: Callable[[], object], seconds: float = 30) -> None:
    """Poll ``predicate`` (it reads files other processes write) until it holds."""
    async with asyncio.timeout(seconds):
        while not await asyncio.to_thread(predicate):  # noqa: ASYNC110 - other processes
            await asyncio.sleep(0.02)


async def test_a_callback_landing_on_another_worker_reaches_its_run_and_runs_once(
    workers: list[Worker], ledger: Path
) -> None:
    a, b = workers
    # A load balancer sends the deployed agent's callbacks to the other worker.
    await asyncio.to_thread(a.start, COPASS_ROUTER_DISPATCH_URL=b.url + "/v1/dispatch")
    await asyncio.to_thread(b.start, COPASS_ROUTER_DISPATCH_URL=a.url + "/v1/dispatch")
    async with RemoteRouter(a.url, timeout=60) as remote:
        result = await remote.complete(provider="callback", message="c-1 c-1 c-2")
    assert result.stop_reason is StopReason.END_TURN, result.errors
    assert result.text == "noted c-1 | noted c-1 | noted c-2"
    # The run's own stream shows each call once, under the real tool name.
    assert [(e.call_id, e.name) for e in result.tool_calls] == [
        ("c-1", "ledger"),
        ("c-2", "ledger"),
    ]
    assert [e.output for e in result.tool_results] == ["noted c-1", "noted c-2"]
    # The tool ran in the worker running the turn, once per call id, though every call
    # landed on the other worker.
    assert _lines(ledger) == [f"{a.pid} c-1", f"{a.pid} c-2"]


async def test_a_callback_for_a_run_whose_worker_is_gone_is_refused(
    workers: list[Worker], ledger: Path
) -> None:
    import httpx

    a, b = workers
    await asyncio.to_thread(a.start)
    await asyncio.to_thread(b.start)
    token_file = Path(str(ledger) + ".token")
    seen: list[Any] = []
    run = asyncio.create_task(_consume(a.url, "callback", "hold", seen))
    await eventually(lambda: token_file.exists() and token_file.read_text())
    token = await asyncio.to_thread(token_file.read_text)
    # The client has the run's id (from its first event) before A dies, so it can resume on B:
    # killed before the response began, the run is lost to the client, which says so.
    await eventually(lambda: seen)
    a.kill()
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            b.url + "/v1/dispatch",
            json={
                "token": token,
                "tool_name": "ledger",
                "arguments": {"note": "late"},
                "call_id": "c-9",
            },
        )
    assert answer.status_code == 403, answer.text
    assert "worker is gone" in answer.json()["detail"]
    assert _lines(ledger) == []
    await asyncio.wait_for(run, 30)


async def _consume(url: str, provider: str, message: str, events: list[Any]) -> None:
    async with RemoteRouter(url, timeout=120) as remote:
        async for event in remote.run(provider=provider, message=message, end_user_id="u-1"):
            events.append(event)


@pytest.mark.parametrize("provider", ["echo", "anthropic"])
async def test_a_worker_killed_mid_turn(
    workers: list[Worker], ledger: Path, provider: str, tmp_path: Path
) -> None:
    from copass_router_anthropic.emulator import running_emulator

    a, b = workers
    with running_emulator(api_key=KEY) as emu:
        env = {"ANTHROPIC_BASE_URL": emu.base_url}
        await asyncio.to_thread(a.start, **env)
        await asyncio.to_thread(b.start, **env)
        # B has its provider ready (SDK imported, agent found) before A dies, so the next turn
        # meets the session while the dead turn's lease still holds it, even on a slow machine.
        await _consume(b.url, provider, "warm up", [])
        message = '/tool ledger {"note": "once", "seconds": 60}'
        events: list[Any] = []
        run = asyncio.create_task(_consume(a.url, provider, message, events))
        # The tool is running on a, and the client has read the run's start.
        await eventually(
            lambda: bool(_lines(ledger)) and any(isinstance(e, RunStarted) for e in events), 60
        )
        (started,) = [e for e in events if isinstance(e, RunStarted)]
        killed_at = time.monotonic()
        a.kill()
        sid = started.session_id

        busy = 0

        async def next_turn() -> tuple[Any, float]:
            # The session is busy until its lease lapses, then takes turns on the other worker.
            nonlocal busy
            async with RemoteRouter(b.url, timeout=60) as other:
                async with asyncio.timeout(LEASE_SECONDS + 15):
                    while True:
                        try:
                            done = await other.complete(
                                provider=provider,
                                message="hello again",
                                session_id=sid,
                                end_user_id="u-1",
                            )
                            return done, time.monotonic() - killed_at
                        except SessionBusyError:
                            busy += 1
                            await asyncio.sleep(0.1)

        # Measured while the first client still tries to resume its run (it then gives up).
        polling = asyncio.create_task(next_turn())
        async with asyncio.timeout(60):
            await run
        # The client: an error event and an end, never a hang.
        assert isinstance(events[-1], RunFinished)
        assert events[-1].stop_reason is StopReason.ERROR
        assert any(isinstance(e, Error) for e in events)
        after, freed = await polling
        async with RemoteRouter(b.url, timeout=60) as remote:
            turns = await remote.transcript(sid, end_user_id="u-1")
        assert after.stop_reason is StopReason.END_TURN, after.errors
        assert after.text.endswith("hello again")
        assert [t.status for t in turns] == [TurnStatus.INTERRUPTED, TurnStatus.COMPLETED]
        assert freed <= LEASE_SECONDS + 2  # within the lease's TTL (plus polling)
        assert busy > 0  # it was held meanwhile: no second turn interleaved with the dead one
        assert _lines(ledger) == [f"{a.pid} once"]  # the tool never ran again
        print(
            f"SIGKILL {provider}: session free {freed:.2f} s after the kill (lease {LEASE_SECONDS} s)"
        )
        if provider == "anthropic":
            assert emu.state.creates["agent"] == 1


async def _follow(url: str, run_id: str, after: int, events: list[Any]) -> None:
    """Resume ``run_id`` on the worker at ``url`` from seq ``after``, as a load balancer would
    send a client whose worker died; the decoded events go to ``events``."""
    import httpx
    from httpx_sse import EventSource

    from copass_router.client._remote_stream import _decode

    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5, read=60)) as http,
        http.stream(
            "GET",
            f"/v1/runs/{run_id}/events",
            params={"end_user_id": "u-1"},
            headers={"Last-Event-ID": str(after)} if after >= 0 else {},
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for sse in EventSource(response).aiter_sse():
            event = _decode(sse.event, sse.data)
            if event is not None:
                events.append(event)


async def test_a_reader_of_a_run_whose_worker_dies_gets_worker_lost_within_the_lease(
    workers: list[Worker], ledger: Path
) -> None:
    a, b = workers
    # The heartbeat (15 s) is above redis-py's default read timeout (5 s): a reader on B of a
    # quiet run must not be cut meanwhile.
    env = {"COPASS_ROUTER_WORKER_LEASE": str(LEASE_SECONDS)}
    await asyncio.to_thread(a.start, **env)
    await asyncio.to_thread(b.start, **env)
    events: list[Any] = []
    message = '/tool ledger {"note": "once", "seconds": 60}'
    run = asyncio.create_task(_consume(a.url, "echo", message, events))
    await eventually(
        lambda: bool(_lines(ledger)) and any(isinstance(e, RunStarted) for e in events)
    )
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    # A reader on B follows the quiet run for longer than a Redis read timeout.
    live: list[Any] = []
    following = asyncio.create_task(_follow(b.url, started.run_id, -1, live))
    await asyncio.sleep(7)
    assert not following.done(), following.exception()
    killed_at = time.monotonic()
    a.kill()
    async with asyncio.timeout(30):
        await following
    noticed = time.monotonic() - killed_at
    assert isinstance(live[-1], RunFinished), live
    assert live[-1].stop_reason is StopReason.ERROR
    assert live[-1].session_id == started.session_id
    (lost,) = [e for e in live if isinstance(e, Error)]
    assert (lost.code, lost.retryable) == ("worker_lost", True)
    assert noticed <= LEASE_SECONDS * 1.5 + 2, noticed  # the lease, then one blocked read
    # A later resume replays the same end, at once.
    again: list[Any] = []
    resumed_at = time.monotonic()
    await asyncio.wait_for(_follow(b.url, started.run_id, 0, again), 10)
    assert time.monotonic() - resumed_at < 2
    assert [(e.type, e.seq) for e in again] == [(e.type, e.seq) for e in live if e.seq > 0]
    run.cancel()
    print(f"SIGKILL: a reader on the other worker got worker_lost {noticed:.2f} s after the kill")
