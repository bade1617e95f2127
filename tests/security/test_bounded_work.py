"""One request's work is bounded; a flood slows its own runs, no one else's.

A 60-byte ``/long 5000000`` must not make other clients' ``/healthz`` wait or the worker grow
without bound: the per-run queue is bounded, the producer yields, ``/long`` has a limit, runs in
flight have a cap and echo can be turned off. (The latency and memory figures come from
``python -m soak.flood``; these tests check the mechanisms.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import Error, Router, RunFinished, StopReason, TextDelta, UnknownProviderError
from copass_router.builtin._scripted_model import MAX_DELTAS, MAX_LONG_WORDS
from copass_router.server import RunLimits
from copass_router.server._run_log import RunLogLimits
from copass_router.server._run_log_memory import MemoryRunLog
from copass_router.server._runs import QUEUE_EVENTS, RunStream
from copass_router.testing import ScriptedPlugin

from .conftest import (
    KEY_ALPHA,
    KEY_BETA,
    FloodBackend,
    Served,
    make_router,
    problem_of,
    sse_events,
    wait_until,
)


async def test_long_past_its_cap_is_a_clean_error_not_millions_of_events() -> None:
    async with make_router() as router:
        events = [e async for e in router.run(provider="echo", message="/long 5000000")]
        capped = [e async for e in router.run(provider="echo", message=f"/long {MAX_LONG_WORDS}")]
    error = next(e for e in events if isinstance(e, Error))
    assert error.code == "invalid_request" and str(MAX_LONG_WORDS) in error.message
    assert not any(isinstance(e, TextDelta) for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.ERROR
    assert sum(isinstance(e, TextDelta) for e in capped) == MAX_LONG_WORDS


async def test_echoing_a_huge_message_is_a_bounded_number_of_events() -> None:
    message = "a " * 400_000
    async with make_router(max_message_chars=1_000_000) as router:
        events = [e async for e in router.run(provider="echo", message=message)]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) <= MAX_DELTAS
    assert "".join(deltas) == "echo: " + message.strip()


async def test_bad_scripted_commands_are_clean_errors() -> None:
    async with make_router() as router:
        for message in ("/long lots", "/long ²", "/slow abc x", "/slow 1e9 x", "/tool t {oops"):
            events = [e async for e in router.run(provider="echo", message=message)]
            error = next(e for e in events if isinstance(e, Error))
            assert error.code == "invalid_request", (message, error)
            assert "Error" not in error.message  # no exception names


async def test_a_reader_that_stops_reading_pauses_its_run_at_the_queue_bound() -> None:
    flood = FloodBackend()
    flood.count = 50 * QUEUE_EVENTS
    async with make_router(ScriptedPlugin(flood=flood)) as router:
        stream = RunStream(router.run(provider="flood", message="go"), heartbeat=5)
        await stream.start()
        await asyncio.sleep(0.2)  # plenty of time to produce everything, were it unbounded
        assert flood.produced <= QUEUE_EVENTS + 2
        frames = 0
        async for _ in stream.encoded():
            frames += 1
        await stream.aclose()
    assert flood.produced == flood.count
    assert frames == flood.count + 3  # run_started, the deltas, usage, run_finished


async def test_a_slow_http_reader_slows_its_own_run(served: Served) -> None:
    served.flood.count, served.flood.size = 5000, 10_000  # 50 MB if nothing held it back
    async with served.http() as http:
        request = {"provider": "flood", "message": "go"}
        async with http.stream("POST", "/v1/runs", json=request) as response:
            assert response.status_code == 200
            await asyncio.sleep(0.5)  # the client reads nothing
            paused_at = served.flood.produced
            async with served.http(KEY_BETA) as other:
                assert (await other.get("/healthz")).status_code == 200
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
    # The queue and the socket buffers hold a bounded amount; the rest waited for the reader.
    assert paused_at < served.flood.count // 2, paused_at
    events = sse_events(body.decode())
    assert events[-1]["type"] == "run_finished" and len(events) == served.flood.count + 3


async def test_a_producer_that_never_waits_still_lets_the_loop_run() -> None:
    flood = FloodBackend()
    flood.count = 20 * QUEUE_EVENTS
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with make_router(ScriptedPlugin(flood=flood)) as router:
        stream = RunStream(router.run(provider="flood", message="go"), heartbeat=5)
        task = asyncio.create_task(ticker())
        await stream.start()
        before = ticks
        # The reader drains as fast as it can: without pauses the run would hold the loop.
        async for _ in stream.encoded():
            pass
        during = ticks - before
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.aclose()
    assert during >= flood.count // 64, during


async def test_runs_in_flight_are_capped_per_key_with_a_429(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(run_limits=RunLimits(max_runs=10, max_runs_per_key=1))
    slow = {"provider": "echo", "message": "/slow 0.5 one two"}
    async with served.http(KEY_ALPHA) as alpha, served.http(KEY_BETA) as beta:
        first = asyncio.create_task(alpha.post("/v1/runs", json=slow))
        await wait_until(lambda: len(served.state.runs) == 1)
        refused = await alpha.post("/v1/runs", json=slow)
        other_tenant = await beta.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        assert (await first).status_code == 200
        again = await alpha.post("/v1/runs", json={"provider": "echo", "message": "hi"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    problem = problem_of(refused)
    assert problem["code"] == "rate_limited" and problem["retryable"] is True
    assert other_tenant.status_code == 200
    assert again.status_code == 200  # the slot came back when the first run ended


async def test_runs_in_flight_are_capped_per_worker(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(run_limits=RunLimits(max_runs=1, max_runs_per_key=None))
    slow = {"provider": "echo", "message": "/slow 0.5 one two"}
    async with served.http(KEY_ALPHA) as alpha, served.http(KEY_BETA) as beta:
        first = asyncio.create_task(alpha.post("/v1/runs", json=slow))
        await wait_until(lambda: len(served.state.runs) == 1)
        refused = await beta.post("/v1/runs", json=slow)
        await first
    assert refused.status_code == 429
    assert problem_of(refused)["code"] == "rate_limited"
    assert served.state.slots.limits.max_runs == 1


def test_run_caps_come_from_the_environment() -> None:
    env = {"COPASS_ROUTER_MAX_RUNS": "7", "COPASS_ROUTER_MAX_RUNS_PER_KEY": "0"}
    assert RunLimits.from_environ(env) == RunLimits(max_runs=7, max_runs_per_key=None)
    assert RunLimits.from_environ({}) == RunLimits()


async def test_echo_can_be_disabled_like_any_plugin() -> None:
    router = Router(
        store=":memory:",
        load_entry_points=False,
        environ={"COPASS_ROUTER_DISABLE_PLUGINS": "echo"},
    )
    async with router:
        assert "echo" not in [p.name for p in router.providers()]
        blocked = [p for p in router.plugins.infos() if p.status == "blocked"]
        assert [p.name for p in blocked] == ["copass_router.builtin.echo"]
        try:
            async for _ in router.run(provider="echo", message="hi"):
                raise AssertionError("echo ran")
        except UnknownProviderError as exc:
            assert exc.provider == "echo"
        assert router.store is not None  # the built-in store still loads


COPASS_ROUTER = str(Path(sys.executable).parent / "copass-router")


@pytest.mark.parametrize(("disabled", "shown"), [("", "echo"), ("echo", "none")])
async def test_serve_says_which_providers_it_exposes(disabled: str, shown: str) -> None:
    env = {
        **os.environ,
        "COPASS_ROUTER_API_KEYS": f"ops:{KEY_ALPHA}",
        "COPASS_ROUTER_STORE": ":memory:",
        "COPASS_ROUTER_LOAD_PLUGINS": "only-the-built-ins",
        "COPASS_ROUTER_DISABLE_PLUGINS": disabled,
    }
    proc = await asyncio.create_subprocess_exec(
        COPASS_ROUTER, "serve", "--port", "0", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            await proc.stdout.readline()  # serving on ...
            line = (await proc.stdout.readline()).decode()
    finally:
        proc.terminate()
        await proc.wait()
    assert line.strip() == f"copass-router providers: {shown}"


async def _long_finished_run(served: Served, words: int = MAX_LONG_WORDS) -> str:
    async with served.http(KEY_ALPHA) as alpha:
        response = await alpha.post(
            "/v1/runs", json={"provider": "echo", "message": f"/long {words}"}
        )
    assert response.status_code == 200 and "run_finished" in response.text
    assert len(response.content) > words * 100  # a log of megabytes
    return response.headers["x-copass-run-id"]


def _sndbuf(connection: Any) -> int:
    import socket

    server_sock = connection.transport.get_extra_info("socket")
    return int(server_sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))


async def _resume_without_reading(
    served: Served, run_id: str, key: str = KEY_ALPHA
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little for it
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    # The server's side of it gets a small send buffer too, as under memory pressure with
    # hundreds of them: what the kernel cannot take stays in the worker's memory.
    connections = served.server._server.server_state.connections
    await wait_until(lambda: any(_sndbuf(c) > 8192 for c in connections))
    for connection in connections:
        server_sock = connection.transport.get_extra_info("socket")
        server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.write(
        (
            f"GET /v1/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nLast-Event-ID: 0\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return reader, writer


async def test_resumers_that_never_read_share_the_log_instead_of_copying_it(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    import tracemalloc

    limits = RunLogLimits(max_events=50_000, max_total_bytes=64 * 2**20)
    served = await serve_router(run_log=MemoryRunLog(limits))
    run_id = await _long_finished_run(served)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [await _resume_without_reading(served, run_id) for _ in range(20)]
        await asyncio.sleep(1.0)  # every response has written what it could
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    for _, writer in held:
        writer.close()
    # A copy of the log per reader would be 20 x 2+ MiB; a shared log costs each a chunk.
    print(f"{grown / 2**20:.1f} MiB for 20 resumers")
    assert grown < 20 * 512 * 1024, f"{grown / 2**20:.1f} MiB for 20 resumers"


async def test_readers_are_capped_per_run_and_per_key_with_a_429(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(run_limits=RunLimits(max_readers_per_run=3, max_readers_per_key=5))
    first, second = await _long_finished_run(served, 9000), await _long_finished_run(served, 9000)
    held = [await _resume_without_reading(served, first) for _ in range(3)]
    async with served.http(KEY_ALPHA) as alpha, served.http(KEY_BETA) as beta:
        over_run = await alpha.get(f"/v1/runs/{first}/events")
        held += [await _resume_without_reading(served, second) for _ in range(2)]
        over_key = await alpha.get(f"/v1/runs/{second}/events")
        other_key = await beta.get("/healthz")
        for response in (over_run, over_key):
            assert response.status_code == 429, response.text
            assert problem_of(response)["code"] == "rate_limited"
            assert response.headers["retry-after"] == "1"
        assert other_key.status_code == 200
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.3)  # the server notices they left: their slots come back
        again = await alpha.get(f"/v1/runs/{first}/events")
    assert again.status_code == 200 and "run_finished" in again.text
