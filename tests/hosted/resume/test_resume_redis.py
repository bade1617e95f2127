"""Resume and cancel across workers: two hosted routers sharing Redis and the session store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import (
    Router,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    TurnStatus,
    Usage,
)
from copass_router.client._remote_router import RemoteRouter
from copass_router.server import create_app, start_server
from copass_router.server._hosted_run import run_log_from_environ
from copass_router.server._run_log import RunLogLimits
from copass_router.server._run_log_redis import RedisRunLog
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from ..conftest import (
    KEY_ALPHA,
    KEY_BETA,
    SECRET,
    DeployedBackend,
    Hosted,
    ToolCounter,
    frame_events,
    problem_of,
    wait_until,
)
from .cutting_proxy import CuttingProxy
from .test_resume import comparable, start_held_run

Workers = Callable[..., Awaitable[list[Hosted]]]


@pytest.fixture
async def workers(redis_prefix: tuple[str, str], tmp_path: Path) -> AsyncIterator[Workers]:
    """Starts N hosted routers on one SQLite file and one Redis (a key prefix of the test's)."""
    url, prefix = redis_prefix
    made: list[Hosted] = []

    async def start(count: int = 2, **limits: Any) -> list[Hosted]:
        for _ in range(count):
            counter, scripted, deployed = ToolCounter(), ScriptedBackend(), DeployedBackend()
            router = Router(
                store=f"sqlite:///{tmp_path / 'sessions.db'}",
                load_entry_points=False,
                environ={},
                plugins=[ScriptedPlugin(scripted=scripted, deployed=deployed)],
                tools=[counter.make_tool()],
                dispatch_secret=SECRET,
            )
            app = create_app(
                router,
                api_keys=[f"alpha:{KEY_ALPHA}", f"beta:{KEY_BETA}"],
                heartbeat=0.2,
                run_log=RedisRunLog(url, RunLogLimits(**limits), prefix=prefix),
            )
            state = app.state.copass_router
            server = await start_server(app, before_shutdown=lambda s=state: s.drain(0.5))
            made.append(Hosted(router, server, state, counter, scripted, deployed))
        return made

    yield start
    for hosted in made:
        await hosted.server.aclose()
        await hosted.router.aclose()


async def test_a_run_resumes_on_another_worker_and_follows_it_live(workers: Workers) -> None:
    a, b = await workers()
    async with a.http() as on_a, b.http() as on_b:
        run_id, seen = await start_held_run(on_a)
        async with on_b.stream(
            "GET",
            f"/v1/runs/{run_id}/events?end_user_id=u-1",
            headers={"Last-Event-ID": str(seen[-1].seq)},
        ) as following:
            await asyncio.sleep(0.3)  # B replays, then waits on Redis for live frames
            assert a.state.runs and not b.state.runs
            a.deployed.release.set()
            raw = (await following.aread()).decode()
        everything = frame_events(
            (await on_a.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")).text
        )
        other = await on_b.get(f"/v1/runs/{run_id}/events?end_user_id=u-2")
    async with b.http(KEY_BETA) as beta:
        foreign = await beta.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")
    resumed = frame_events(raw)
    assert seen + resumed == everything
    assert isinstance(everything[0], RunStarted) and isinstance(everything[-1], RunFinished)
    assert [e.seq for e in everything] == list(range(len(everything)))
    assert (other.status_code, foreign.status_code) == (404, 404)
    assert problem_of(foreign)["code"] == "run_not_found"


async def test_remote_router_resumes_on_another_worker(workers: Workers) -> None:
    a, b = await workers()
    a.scripted.enqueue(*(TextDelta(text=f"piece {i} ") for i in range(200)), delay=0.002)
    async with a.remote() as direct:
        whole = [e async for e in direct.run(provider="scripted", message="go")]
    a.scripted.enqueue(*(TextDelta(text=f"piece {i} ") for i in range(200)), delay=0.002)
    port_a, port_b = (int(h.url.rsplit(":", 1)[1]) for h in (a, b))
    async with (
        CuttingProxy(port_a, cuts=[3000, 2000, 1500], then_port=port_b) as proxy,
        RemoteRouter(proxy.url, KEY_ALPHA) as remote,
    ):
        events = [e async for e in remote.run(provider="scripted", message="go")]
    assert proxy.cut == 3 and proxy.connections >= 4
    assert [e.seq for e in events] == list(range(len(events)))
    assert comparable(events) == comparable(whole)
    assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]


async def test_cancel_on_another_worker_cancels_the_turn(workers: Workers) -> None:
    a, b = await workers()
    a.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with a.http() as on_a, b.http() as on_b:
        body = {"provider": "scripted", "message": "go", "end_user_id": "u-1"}
        async with on_a.stream("POST", "/v1/runs", json=body) as response:
            run_id = response.headers["x-copass-run-id"]
            raw, cancel = "", None
            async for chunk in response.aiter_text():
                raw += chunk
                if cancel is None and "event: text_delta" in raw and raw.endswith("\n\n"):
                    cancel = await on_b.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
        await wait_until(lambda: not a.state.runs)
        again = await on_b.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
        from_b = frame_events((await on_b.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")).text)
    assert cancel is not None and cancel.status_code == 202
    assert again.status_code == 200 and again.json()["status"] == "finished"
    finished = frame_events(raw)[-1]
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.CANCELLED
    assert from_b == frame_events(raw)
    assert a.scripted.cancelled == 1 and a.scripted.finished == 0
    turns = await b.router.transcript(finished.session_id, "alpha:u-1")
    assert turns[-1].status is TurnStatus.CANCELLED


async def test_cancel_on_the_worker_running_the_turn_cancels_it(workers: Workers) -> None:
    # The run is this worker's own: the cancel must not need the Redis channel to reach it.
    [a] = await workers(1)
    a.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with a.http() as on_a, a.http() as again_a, asyncio.timeout(15):
        body = {"provider": "scripted", "message": "go", "end_user_id": "u-1"}
        async with on_a.stream("POST", "/v1/runs", json=body) as response:
            run_id = response.headers["x-copass-run-id"]
            raw, cancel = "", None
            async for chunk in response.aiter_text():
                raw += chunk
                if cancel is None and "event: text_delta" in raw and raw.endswith("\n\n"):
                    cancel = await again_a.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
    assert cancel is not None and cancel.status_code == 202
    finished = frame_events(raw)[-1]
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.CANCELLED
    assert a.scripted.cancelled == 1


async def test_expired_and_trimmed_logs_are_410_on_every_worker(workers: Workers) -> None:
    a, b = await workers(retention=0.3, max_events=5)
    a.scripted.enqueue(*(TextDelta(text=f"t{i}") for i in range(11)), Usage(output_tokens=11))
    async with a.http() as on_a, b.http() as on_b:
        # run_started is seq 0, the deltas 1-11, usage 12, run_finished 13; the log keeps 9-13.
        done = await on_a.post("/v1/runs", json={"provider": "scripted", "message": "go"})
        run_id = done.headers["x-copass-run-id"]
        await wait_until(lambda: not a.state.runs)
        tail = await on_b.get(f"/v1/runs/{run_id}/events?after=8")
        trimmed = await on_b.get(f"/v1/runs/{run_id}/events?after=7")
        await asyncio.sleep(0.4)
        expired = await on_b.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "9"})
    kept = frame_events(tail.text)
    assert [e.seq for e in kept] == [9, 10, 11, 12, 13]
    assert [getattr(e, "text", e.type) for e in kept[:-1]] == ["t8", "t9", "t10", "usage"]
    assert isinstance(kept[-1], RunFinished)
    assert trimmed.status_code == 410 and problem_of(trimmed)["code"] == "run_log_trimmed"
    assert expired.status_code == 410 and problem_of(expired)["code"] == "run_log_expired"


async def test_the_coordinator_setting_selects_redis(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    chosen = run_log_from_environ(
        {
            "COPASS_ROUTER_COORDINATOR": url,
            "COPASS_ROUTER_REDIS_PREFIX": prefix,
            "COPASS_ROUTER_RUN_LOG_RETENTION": "7",
        }
    )
    assert isinstance(chosen, RedisRunLog) and chosen.limits.retention == 7
    await chosen.aclose()
    assert type(run_log_from_environ({})).__name__ == "MemoryRunLog"
