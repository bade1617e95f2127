"""Redis or PostgreSQL going away under load: runs fail with a clear, retryable error while it
is down, succeed once it is back, and nothing is left corrupted.

Both outages are private to the test: a redis-server of its own, and a TCP proxy between the
workers and PostgreSQL that it stops and starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from copass_router import RemoteRouter, RemoteRouterError, RouterError, StopReason, TurnStatus

from ..services import with_query
from .cluster import cluster
from .stand_ins import TcpProxy, private_redis

LOAD = 4  # clients running turns back to back


class Load:
    """``LOAD`` clients running echo turns against the workers, counting what happens."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.ok = 0
        self.clear_errors: list[str] = []
        self.other: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, message: str = "under load", provider: str = "echo") -> None:
        for i in range(LOAD):
            self._tasks.append(asyncio.create_task(self._client(i, provider, message)))

    async def _client(self, i: int, provider: str, message: str) -> None:
        async with RemoteRouter(self.urls[i % len(self.urls)], timeout=30) as remote:
            while not self._stop.is_set():
                try:
                    result = await remote.complete(
                        provider=provider, message=message, end_user_id=f"load-{i}"
                    )
                except RouterError as exc:
                    text = str(exc)
                    bucket = self.clear_errors if "retry" in text else self.other
                    bucket.append(f"{type(exc).__name__}: {text}")
                    await asyncio.sleep(0.05)
                    continue
                if result.stop_reason is StopReason.END_TURN:
                    self.ok += 1
                elif all(e.retryable and "retry" in e.message for e in result.errors):
                    # A turn running when the service went away: its end could not be recorded.
                    self.clear_errors.extend(e.message for e in result.errors)
                else:
                    self.other.append(repr(result.errors))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 60)


async def until(check: Callable[[], Any], seconds: float = 30) -> Any:
    """The first truthy result of the coroutine function ``check``, retried on RouterError."""
    async with asyncio.timeout(seconds):
        while True:
            try:
                got = await check()
                if got:
                    return got
            except RouterError:
                pass
            await asyncio.sleep(0.1)


async def test_a_redis_restart_under_load(tmp_path: Path, postgres_url: str) -> None:
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    with private_redis() as redis_server:
        env = {
            "COPASS_ROUTER_STORE": postgres_url,
            "COPASS_ROUTER_COORDINATOR": with_query(redis_server.url, "prefix", "outage"),
            "SCALE_LEDGER": str(ledger),
        }
        with cluster(env, tmp_path) as (a, b):
            await asyncio.to_thread(a.start, COPASS_ROUTER_DISPATCH_URL=b.url + "/v1/dispatch")
            await asyncio.to_thread(b.start, COPASS_ROUTER_DISPATCH_URL=a.url + "/v1/dispatch")
            async with RemoteRouter(a.url, timeout=30) as remote:
                attempts = iter(range(1000))

                async def crossed() -> bool:
                    # A run whose tool calls land on the other worker: needs Redis.
                    call_id = f"c-{next(attempts)}"
                    result = await remote.complete(provider="callback", message=call_id)
                    return result.text == f"noted {call_id}"

                assert await crossed()
                load = Load([a.url, b.url])
                load.start()
                await asyncio.sleep(0.5)
                await asyncio.to_thread(redis_server.stop)
                await asyncio.sleep(1.5)
                try:
                    await crossed()
                    raise AssertionError("a run needing Redis succeeded while it was down")
                except RemoteRouterError as exc:
                    assert "coordinator is unreachable" in str(exc) or "event log" in str(exc)
                    assert (exc.status, exc.code, exc.retryable) == (503, "overloaded", True)
                await asyncio.to_thread(redis_server.start)
                assert await until(crossed)
                await asyncio.sleep(0.5)
                await load.stop()
        assert load.other == [], load.other[:3]
        assert load.clear_errors, "no run failed while Redis was down"
        # Refused with a clear word: the coordinator, or the run's event log (Redis too).
        assert all("coordinator is unreachable" in e or "event log" in e for e in load.clear_errors)
        assert load.ok > 0
        lines = ledger.read_text().splitlines()
        assert len(lines) == len(set(lines))  # no call ran twice
    print(f"redis outage: {load.ok} runs ok, {len(load.clear_errors)} refused while down")


async def test_a_postgres_outage_under_load(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    proxied = proxy.via(postgres_url)
    env = {"COPASS_ROUTER_STORE": proxied, "COPASS_ROUTER_COORDINATOR": redis_url}
    try:
        with cluster(env, tmp_path) as (a, b):
            await asyncio.to_thread(a.start)
            await asyncio.to_thread(b.start)
            async with (
                RemoteRouter(a.url, timeout=30) as on_a,
                RemoteRouter(b.url, timeout=30) as on_b,
            ):
                first = await on_a.complete(provider="echo", message="one", end_user_id="keep")
                sid = first.session_id
                load = Load([a.url, b.url])
                load.start()
                await asyncio.sleep(0.5)
                await proxy.stop()
                await asyncio.sleep(1.0)
                try:
                    await on_b.complete(
                        provider="echo", message="two", session_id=sid, end_user_id="keep"
                    )
                    raise AssertionError("a turn started while the store was down")
                except RemoteRouterError as exc:
                    assert "session store failed" in str(exc), exc
                    assert (exc.status, exc.code, exc.retryable) == (503, "overloaded", True)
                await proxy.start()

                async def continued() -> Any:
                    return await on_b.complete(
                        provider="echo", message="three", session_id=sid, end_user_id="keep"
                    )

                after = await until(continued)
                assert after.stop_reason is StopReason.END_TURN
                await asyncio.sleep(0.5)
                await load.stop()
                turns = await on_a.transcript(sid, end_user_id="keep")
        assert load.other == [], load.other[:3]
        assert load.clear_errors, "no run failed while PostgreSQL was down"
        assert load.ok > 0
        # Nothing half-written: the session's turns are whole, in order, and none is left running.
        assert [t.index for t in turns] == list(range(len(turns)))
        assert [t.user for t in turns] == ["one", "three"]
        assert all(t.status is TurnStatus.COMPLETED for t in turns)
    finally:
        await proxy.stop()
    print(f"postgres outage: {load.ok} runs ok, {len(load.clear_errors)} refused while down")


async def test_readyz_is_503_while_the_coordinator_or_the_store_is_unreachable(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    import httpx

    from .cluster import free_port

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    parts = urlsplit(postgres_url)
    dead_pg = urlunsplit(parts._replace(netloc=f"127.0.0.1:{free_port()}"))
    cases = {
        "up": ({"COPASS_ROUTER_STORE": postgres_url, "COPASS_ROUTER_COORDINATOR": redis_url}, 200),
        "coordinator": (
            {"COPASS_ROUTER_STORE": postgres_url, "COPASS_ROUTER_COORDINATOR": dead_redis},
            503,
        ),
        "store": ({"COPASS_ROUTER_STORE": dead_pg, "COPASS_ROUTER_COORDINATOR": redis_url}, 503),
    }
    for name, (env, status) in cases.items():
        with cluster({**env, "SCALE_LEDGER": str(tmp_path / "l")}, tmp_path, count=1) as (worker,):
            await asyncio.to_thread(worker.start)
            async with httpx.AsyncClient(timeout=30) as http:
                started = asyncio.get_running_loop().time()
                answer = await http.get(worker.url + "/readyz")
                took = asyncio.get_running_loop().time() - started
        assert answer.status_code == status, (name, answer.text)
        assert took < 5, (name, took)  # a probe gets its answer in time
        if status == 503:
            assert answer.json()["status"] == f"{name}_unavailable"
