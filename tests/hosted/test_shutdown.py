"""Graceful shutdown and the serve entry point's refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import httpx
import pytest

from copass_router import Error, Event, RunFinished, StopReason, TextDelta, TurnStatus
from copass_router.client._remote_router import RemoteRouter, RemoteRouterError
from copass_router.server import create_app, serve
from copass_router.serving._listener import bind_socket

from .conftest import KEY_ALPHA, Hosted, ToolCounter, make_router, problem_of, wait_until


async def collect_events(remote: RemoteRouter, **fields: object) -> list[Event]:
    return [e async for e in remote.run(**fields)]


async def test_shutdown_lets_short_turns_finish_and_cancels_the_rest(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted: Hosted = await start_hosted(grace=1.0)
    hosted.scripted.enqueue(TextDelta(text="forever"), hang=True)
    async with hosted.remote() as slow_client, hosted.remote() as stuck_client:
        stuck = asyncio.create_task(
            collect_events(stuck_client, provider="scripted", message="go", end_user_id="u-1")
        )
        await wait_until(lambda: len(hosted.scripted.turns) == 1)
        short = asyncio.create_task(
            collect_events(slow_client, provider="echo", message="/slow 0.05 a b")
        )
        await wait_until(lambda: len(hosted.state.runs) == 2)
        await hosted.server.aclose()
        short_events, stuck_events = await asyncio.gather(short, stuck)
    assert isinstance(short_events[-1], RunFinished)
    assert short_events[-1].stop_reason is StopReason.END_TURN
    error, finished = stuck_events[-2:]
    assert isinstance(error, Error) and (error.code, error.retryable) == ("shutting_down", True)
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.CANCELLED
    assert finished.session_id == stuck_events[0].session_id
    assert [e.seq for e in stuck_events] == list(range(len(stuck_events)))
    assert hosted.scripted.cancelled == 1
    (turn,) = await hosted.router.transcript(finished.session_id, "alpha:u-1")
    assert turn.status is TurnStatus.CANCELLED


async def test_a_draining_app_refuses_new_runs() -> None:
    router = make_router(ToolCounter())
    app = create_app(router, api_keys=[KEY_ALPHA])
    await app.state.copass_router.drain(0)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as http:
            run = await http.post(
                "/v1/runs",
                json={"provider": "echo", "message": "hi"},
                headers={"Authorization": f"Bearer {KEY_ALPHA}"},
            )
            ready = await http.get("/readyz")
            health = await http.get("/healthz")
    finally:
        await router.aclose()
    assert run.status_code == 503
    assert problem_of(run)["code"] == "shutting_down"
    assert run.headers["retry-after"]
    assert (ready.status_code, ready.json()["status"]) == (503, "draining")
    assert health.status_code == 200
    with pytest.raises(RemoteRouterError) as caught:
        from copass_router.client._remote_router import error_from_problem

        raise error_from_problem(503, run.json())
    assert caught.value.retryable and caught.value.code == "shutting_down"


def test_serve_refuses_a_public_address_without_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve("0.0.0.0", 0, environ={}, store=":memory:") == 2
    assert "without API keys" in capsys.readouterr().err


def test_serve_refuses_weak_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve("0.0.0.0", 0, environ={"COPASS_ROUTER_API_KEYS": "short"}) == 2
    assert "shorter than" in capsys.readouterr().err


def test_serve_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert serve("127.0.0.1", port, environ={}, store=":memory:") == 1
    finally:
        sock.close()
    assert "cannot listen" in capsys.readouterr().err


SERVE_SCRIPT = (
    "import sys; from copass_router.server import serve; "
    "sys.exit(serve('127.0.0.1', 0, store=':memory:', grace=0.3))"
)


async def test_serve_process_drains_on_sigterm() -> None:
    env = {
        **os.environ,
        "COPASS_ROUTER_API_KEYS": f"ops:{KEY_ALPHA}",
        "COPASS_ROUTER_LOAD_PLUGINS": "only-the-built-ins",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVE_SCRIPT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        async with asyncio.timeout(20):
            line = (await proc.stdout.readline()).decode()
            assert line.startswith("copass-router serving on http://127.0.0.1:"), line
            base = line.split()[3]
            assert f"dispatch: {base}/v1/dispatch" in line
            events: list[Event] = []
            async with RemoteRouter(base, KEY_ALPHA) as remote:
                async for event in remote.run(provider="echo", message="/slow 0.4 a b c d e f"):
                    events.append(event)
                    if isinstance(event, TextDelta) and len(events) == 2:
                        proc.send_signal(signal.SIGTERM)
            code = await proc.wait()
            log = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert isinstance(events[-1], RunFinished)
    assert events[-1].stop_reason is StopReason.CANCELLED
    assert [e.type for e in events[-2:]] == ["error", "run_finished"]
    assert code == 0
    assert "request" in log and "run_" in log  # the access log names the run
    assert KEY_ALPHA not in log
