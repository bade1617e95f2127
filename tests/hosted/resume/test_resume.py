"""Hosted runs outlive their connection: resume from the run's log, cancel by run id (memory log)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from copass_router import (
    Error,
    Event,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    TurnStatus,
    Usage,
    event_to_dict,
)
from copass_router.client._remote_router import RemoteRouter
from copass_router.server._run_log import RunLogLimits
from copass_router.server._run_log_memory import MemoryRunLog

from ..conftest import (
    KEY_ALPHA,
    KEY_BETA,
    Hosted,
    frame_events,
    parse_frames,
    problem_of,
    wait_until,
)
from .cutting_proxy import CuttingProxy

DELTAS = 300


def comparable(events: list[Event]) -> list[dict[str, Any]]:
    """Events without what differs between two runs of one script (ids)."""
    out = []
    for event in events:
        data = event_to_dict(event)
        data.pop("run_id")
        data.pop("session_id", None)
        out.append(data)
    return out


def script(hosted: Hosted, delay: float = 0.002) -> None:
    hosted.scripted.enqueue(*(TextDelta(text=f"piece {i} ") for i in range(DELTAS)), delay=delay)


async def start_held_run(http: httpx.AsyncClient, **extra: Any) -> tuple[str, list[Event]]:
    """Start a ``/hold`` run on the deployed backend, read up to its first delta, disconnect."""
    body = {"provider": "deployed", "message": "/hold", "end_user_id": "u-1", **extra}
    async with http.stream("POST", "/v1/runs", json=body) as response:
        assert response.status_code == 200
        run_id = response.headers["x-copass-run-id"]
        raw = ""
        async for chunk in response.aiter_text():
            raw += chunk
            if "event: text_delta" in raw and raw.endswith("\n\n"):
                break
    return run_id, frame_events(raw)


async def test_a_client_cut_off_several_times_gets_every_event_once(hosted: Hosted) -> None:
    script(hosted)
    async with hosted.remote() as remote:
        whole = [e async for e in remote.run(provider="scripted", message="go")]
    script(hosted)
    port = int(hosted.url.rsplit(":", 1)[1])
    async with (
        CuttingProxy(port, cuts=[4000, 3000, 2500, 2000]) as proxy,
        RemoteRouter(proxy.url, KEY_ALPHA) as remote,
    ):
        events = [e async for e in remote.run(provider="scripted", message="go")]
    assert proxy.cut == 4  # not vacuous: four connections were cut mid-stream
    assert [e.seq for e in events] == list(range(len(events)))  # none lost, none twice
    assert comparable(events) == comparable(whole)
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.END_TURN
    assert hosted.scripted.finished == 2 and hosted.scripted.cancelled == 0


async def test_a_disconnect_lets_the_run_finish_and_a_resume_replays_it(hosted: Hosted) -> None:
    async with hosted.http() as http:
        run_id, seen = await start_held_run(http)
        await wait_until(lambda: hosted.state.hosted.detached("alpha") == 1)
        hosted.deployed.release.set()
        await wait_until(lambda: len(hosted.state.runs) == 0)
        rest = await http.get(
            f"/v1/runs/{run_id}/events?end_user_id=u-1",
            headers={"Last-Event-ID": str(seen[-1].seq)},
        )
        replay = await http.get(f"/v1/runs/{run_id}/events", params={"end_user_id": "u-1"})
        after = await http.get(f"/v1/runs/{run_id}/events?end_user_id=u-1&after=0")
    assert rest.status_code == 200 and rest.headers["x-copass-run-id"] == run_id
    resumed = frame_events(rest.text)
    everything = frame_events(replay.text)
    assert seen + resumed == everything
    assert [e.seq for e in everything] == list(range(len(everything)))
    assert isinstance(everything[0], RunStarted) and isinstance(everything[-1], RunFinished)
    assert everything[-1].stop_reason is StopReason.END_TURN
    assert frame_events(after.text) == everything[1:]
    assert [f["id"] for f in parse_frames(replay.text) if "id" in f] == [
        str(e.seq) for e in everything
    ]
    assert hosted.state.hosted.detached("alpha") == 0


async def test_a_resume_follows_a_live_run(hosted: Hosted) -> None:
    async with hosted.http() as http:
        run_id, seen = await start_held_run(http)
        async with http.stream(
            "GET",
            f"/v1/runs/{run_id}/events?end_user_id=u-1",
            headers={"Last-Event-ID": str(seen[-1].seq)},
        ) as following:
            hosted.deployed.release.set()
            raw = (await following.aread()).decode()
    resumed = frame_events(raw)
    assert resumed and isinstance(resumed[-1], RunFinished)
    assert [e.seq for e in seen + resumed] == list(range(len(seen) + len(resumed)))


async def test_another_tenant_or_end_user_gets_404(hosted: Hosted) -> None:
    async with hosted.http() as http:
        run_id, _ = await start_held_run(http)
        hosted.deployed.release.set()
        await wait_until(lambda: len(hosted.state.runs) == 0)
        own = await http.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")
        other_user = await http.get(f"/v1/runs/{run_id}/events?end_user_id=u-2")
        default_user = await http.get(f"/v1/runs/{run_id}/events")
        missing = await http.get("/v1/runs/run_nothing/events?end_user_id=u-1")
        cancel_other = await http.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-2")
    async with hosted.http(KEY_BETA) as beta:
        other_tenant = await beta.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")
        cancel_tenant = await beta.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
    assert own.status_code == 200
    refused = [other_user, default_user, missing, other_tenant, cancel_other, cancel_tenant]
    assert [r.status_code for r in refused] == [404] * 6
    bodies = [problem_of(r) for r in refused]
    assert {b["code"] for b in bodies} == {"run_not_found"}
    # The same answer as a run that never existed, but for the id it names.
    assert bodies[3]["detail"] == bodies[0]["detail"] != bodies[2]["detail"]
    assert "sunny" not in other_tenant.text and "event:" not in other_tenant.text


async def test_an_expired_log_is_410_with_a_clear_message(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted = await start_hosted(run_log=MemoryRunLog(RunLogLimits(retention=0.2)))
    async with hosted.http() as http:
        done = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        run_id = done.headers["x-copass-run-id"]
        fresh = await http.get(f"/v1/runs/{run_id}/events")
        await asyncio.sleep(0.3)
        expired = await http.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "1"})
        cancel = await http.post(f"/v1/runs/{run_id}/cancel")
    async with hosted.http(KEY_BETA) as beta:
        foreign = await beta.get(f"/v1/runs/{run_id}/events")
    assert frame_events(fresh.text) == frame_events(done.text)
    assert expired.status_code == 410
    problem = problem_of(expired)
    assert problem["code"] == "run_log_expired" and problem["run_id"] == run_id
    assert "kept 0.2 s after the run ends" in problem["detail"]
    assert "COPASS_ROUTER_RUN_LOG_RETENTION" in problem["detail"]
    assert cancel.status_code == 200 and cancel.json()["status"] == "finished"
    assert foreign.status_code == 404  # expired or not, another tenant learns nothing


async def test_a_log_keeps_its_last_events_and_says_when_older_ones_are_gone(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted = await start_hosted(run_log=MemoryRunLog(RunLogLimits(max_events=5)))
    hosted.scripted.enqueue(*(TextDelta(text=f"t{i}") for i in range(19)), Usage(output_tokens=19))
    async with hosted.http() as http:
        # run_started is seq 0, the deltas 1-19, usage 20, run_finished 21; the log keeps 17-21.
        done = await http.post("/v1/runs", json={"provider": "scripted", "message": "go"})
        run_id = done.headers["x-copass-run-id"]
        await wait_until(lambda: not hosted.state.runs)
        tail = await http.get(f"/v1/runs/{run_id}/events?after=16")
        gone = await http.get(f"/v1/runs/{run_id}/events?after=15")
    kept = frame_events(tail.text)
    assert [e.seq for e in kept] == [17, 18, 19, 20, 21]
    assert isinstance(kept[-1], RunFinished)
    assert gone.status_code == 410 and problem_of(gone)["code"] == "run_log_trimmed"
    assert "last 5 events" in problem_of(gone)["detail"]


async def test_cancel_by_run_id_cancels_the_turn(hosted: Hosted) -> None:
    hosted.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with hosted.http() as http:
        body = {"provider": "scripted", "message": "go", "end_user_id": "u-1"}
        async with http.stream("POST", "/v1/runs", json=body) as response:
            run_id = response.headers["x-copass-run-id"]
            raw = ""
            cancel = None
            async for chunk in response.aiter_text():
                raw += chunk
                if cancel is None and "event: text_delta" in raw and raw.endswith("\n\n"):
                    cancel = await http.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
            events = frame_events(raw)
        again = await http.post(f"/v1/runs/{run_id}/cancel?end_user_id=u-1")
    assert (
        cancel is not None
        and cancel.status_code == 202
        and cancel.json() == {"run_id": run_id, "status": "cancelling"}
    )
    assert again.status_code == 200 and again.json()["status"] == "finished"
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.CANCELLED
    assert hosted.scripted.cancelled == 1 and hosted.scripted.finished == 0
    turns = await hosted.router.transcript(events[0].session_id, "alpha:u-1")
    assert turns[-1].status is TurnStatus.CANCELLED


async def test_detached_runs_are_capped_per_tenant(hosted: Hosted) -> None:
    hosted.state.hosted.max_detached = 1
    async with hosted.http() as http:
        first, _ = await start_held_run(http)
        await wait_until(lambda: hosted.state.hosted.detached("alpha") == 1)
        second, _ = await start_held_run(http)
        await wait_until(lambda: len(hosted.state.runs) == 1)
        capped = await http.get(f"/v1/runs/{second}/events?end_user_id=u-1")
        async with hosted.http(KEY_BETA) as beta:  # another tenant has its own allowance
            third, _ = await start_held_run(beta)
            await wait_until(lambda: hosted.state.hosted.detached("beta") == 1)
        hosted.deployed.release.set()
        await wait_until(lambda: len(hosted.state.runs) == 0)
        kept = await http.get(f"/v1/runs/{first}/events?end_user_id=u-1")
    events = frame_events(capped.text)
    # the cut call's estimated usage may be told after the error that cut it
    error, finished = next(e for e in events if isinstance(e, Error)), events[-1]
    assert error.code == "rate_limited"
    assert "COPASS_ROUTER_MAX_DETACHED_RUNS" in error.message
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.CANCELLED
    last = frame_events(kept.text)[-1]
    assert isinstance(last, RunFinished) and last.stop_reason is StopReason.END_TURN
    assert third != first


async def test_a_bad_on_disconnect_or_last_event_id_is_400(hosted: Hosted) -> None:
    async with hosted.http() as http:
        bad = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "hi", "on_disconnect": "pause"}
        )
        done = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        run_id = done.headers["x-copass-run-id"]
        bad_id = await http.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
        old_form = await http.get(
            f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": f"{run_id}:1"}
        )
    assert bad.status_code == 400 and problem_of(bad)["field"] == "on_disconnect"
    assert bad_id.status_code == 400 and problem_of(bad_id)["field"] == "Last-Event-ID"
    assert frame_events(old_form.text) == frame_events(done.text)[2:]


async def test_remote_router_gives_up_on_an_expired_run(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted = await start_hosted(run_log=MemoryRunLog(RunLogLimits(retention=0.0)))
    script(hosted, delay=0.0)
    port = int(hosted.url.rsplit(":", 1)[1])
    ended = asyncio.Event()  # the client's resume waits until the run has ended (and expired)
    async with (
        CuttingProxy(port, cuts=[1500], gate=ended) as proxy,
        RemoteRouter(proxy.url, KEY_ALPHA) as remote,
    ):
        stream = remote.run(provider="scripted", message="go")
        first = await stream.__anext__()
        consuming = asyncio.ensure_future(_rest(stream))
        await wait_until(lambda: len(hosted.state.runs) == 0)
        ended.set()
        events = [first, *await consuming]
    error, finished = events[-2:]
    assert isinstance(error, Error) and error.code == "connection_lost"
    assert "410" in error.message and "no longer kept" in error.message
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.ERROR
    assert [e.seq for e in events] == list(range(len(events)))


async def _rest(stream: Any) -> list[Event]:
    return [e async for e in stream]


async def test_a_run_whose_log_cannot_be_opened_is_refused_and_cancelled(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    from copass_router.server._run_log_redis import RedisRunLog

    hosted = await start_hosted(run_log=RedisRunLog("redis://127.0.0.1:1/0"))
    hosted.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with hosted.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "scripted", "message": "go", "end_user_id": "u-1"}
        )
    problem = problem_of(response)
    assert (response.status_code, problem["code"], problem["retryable"]) == (
        503,
        "run_log_unavailable",
        True,
    )
    assert "COPASS_ROUTER_COORDINATOR" in problem["detail"]
    assert hosted.scripted.cancelled == 1 and len(hosted.state.runs) == 0
    session_id = hosted.scripted.turns[0].session_id
    turns = await hosted.router.transcript(session_id, "alpha:u-1")
    assert turns[-1].status is TurnStatus.CANCELLED
