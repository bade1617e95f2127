"""Figures 4w and 6w: the hosted router scaled out, on PostgreSQL and Redis (the local services).

4w: figure 4's 1,000 concurrent echo runs against `copass-router serve --workers N` for N = 1
and 2 (one port; PostgreSQL store with synchronous_commit=off, Redis coordinator): runs per
second with 1,000 started at once, and p99 time to first event with 1,000 in flight (ramped);
and the same against one embedded worker (SQLite in memory, no Redis) as the baseline.
6w: 100 cold Anthropic runs with one fingerprint spread over two workers (50 each) against
one emulator: agents and environments created (target exactly one each).

The load generator shares the machine's 2 cores with the workers, as figure 4's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from copass_router import RemoteRouter, StopReason

from .concurrency import RUNS, _one, _ramp, _summary
from .emulator_process import _free_port
from .hosted_harness import UNCAPPED, wait_for_port
from .report import Figure

PG = os.environ.get("COPASS_ROUTER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("COPASS_ROUTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
KEY = "sk-ant-bench-0123456789abcdef"
EXE = shutil.which("copass-router") or str(Path(sys.executable).parent / "copass-router")


@contextlib.asynccontextmanager
async def services() -> AsyncIterator[dict[str, str]]:
    """A fresh PostgreSQL schema and Redis key prefix (dropped after), as worker environment."""
    import asyncpg
    import redis.asyncio as aioredis

    tag = f"copass_bench_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in PG else "?"
    env = {
        "COPASS_ROUTER_STORE": f"{PG}{sep}schema={tag}&synchronous_commit=off",
        "COPASS_ROUTER_COORDINATOR": f"{REDIS}{'&' if '?' in REDIS else '?'}prefix={tag}",
        "COPASS_ROUTER_API_KEYS": "",
    }
    try:
        yield env
    finally:
        conn = await asyncpg.connect(PG)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        await conn.close()
        client = aioredis.from_url(REDIS)
        keys = [k async for k in client.scan_iter(match=f"{tag}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _cpu_seconds(parent: int) -> float:
    """CPU time (user + system) of a serve process and its workers so far."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    total = 0.0
    for pid in [str(parent), *children]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.asynccontextmanager
async def served(env: dict[str, str], workers: int = 1) -> AsyncIterator[tuple[str, int]]:
    """`copass-router serve --workers N` on a free port; yields its base URL and pid."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--grace",
        "1",
        # No caps on runs in flight: the figures start 1,000 runs at once from one client.
        env={**os.environ, **UNCAPPED, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port, "the workers")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def _throughput(env: dict[str, str], workers: int, label: str = "") -> list[Figure]:
    import httpx

    async with served(env, workers) as (url, pid):
        limits = httpx.Limits(max_connections=RUNS + 10, max_keepalive_connections=RUNS + 10)
        transport = httpx.AsyncHTTPTransport(limits=limits)
        async with RemoteRouter(url, timeout=120, transport=transport) as remote:
            for i in range(20):  # every worker warm: plugins loaded, pools open
                await _one(remote, -1 - i)
            start, cpu, own = time.perf_counter(), _cpu_seconds(pid), time.process_time()
            burst: list[object] = await asyncio.gather(
                *(_one(remote, i) for i in range(RUNS)), return_exceptions=True
            )
            wall = time.perf_counter() - start
            cpu_ms = (_cpu_seconds(pid) - cpu) * 1000 / RUNS
            client_ms = (time.process_time() - own) * 1000 / RUNS
            held = await _ramp(remote)
    burst_errors, _, burst_p99 = _summary(burst)
    errors, p50, p99 = _summary(held)
    name = f"4w. {workers} worker{'s' if workers > 1 else ''}{label}"
    return [
        Figure(
            f"{name}: errors", burst_errors + errors, "runs", "== 0", burst_errors + errors == 0
        ),
        Figure(f"{name}: 1000 at once, runs per second", RUNS / wall, "runs/s"),
        Figure(f"{name}: 1000 at once, p99 time to first event", burst_p99, "ms"),
        Figure(f"{name}: worker CPU per run", cpu_ms, "ms", detail={"load": os.getloadavg()}),
        Figure(f"{name}: load generator CPU per run", client_ms, "ms"),
        Figure(
            f"{name}: 1000 in flight (ramped), p99 time to first event",
            p99,
            "ms",
            detail={"p50_ms": p50},
        ),
    ]


async def _cold_anthropic(env: dict[str, str]) -> list[Figure]:
    from copass_router_anthropic.emulator import running_emulator

    with running_emulator(api_key=KEY) as emu:
        worker_env = {**env, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": emu.base_url}
        async with served(worker_env) as (one, _), served(worker_env) as (two, _):
            remotes = [RemoteRouter(one, timeout=120), RemoteRouter(two, timeout=120)]
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    remotes[i % 2].complete(
                        provider="anthropic",
                        message=f"hello {i}",
                        system="One fingerprint, two workers.",
                        end_user_id=f"user-{i}",
                    )
                    for i in range(100)
                )
            )
            wall = time.perf_counter() - start
            for remote in remotes:
                await remote.aclose()
        agents, environments = emu.state.creates["agent"], emu.state.creates["environment"]
    failed = [r for r in results if r.stop_reason is not StopReason.END_TURN]
    return [
        Figure(
            "6w. 100 cold runs on 2 workers: failed runs", len(failed), "runs", "== 0", not failed
        ),
        Figure(
            "6w. 100 cold runs on 2 workers: agent creates", agents, "creates", "== 1", agents == 1
        ),
        Figure(
            "6w. 100 cold runs on 2 workers: environment creates",
            environments,
            "creates",
            "== 1",
            environments == 1,
        ),
        Figure("6w. 100 cold runs on 2 workers: wall time", wall * 1000, "ms"),
    ]


async def _measure() -> list[Figure]:
    # The baseline: one worker with nothing to share (SQLite in memory, no Redis).
    embedded = {"COPASS_ROUTER_STORE": ":memory:", "COPASS_ROUTER_API_KEYS": ""}
    figures = await _throughput(embedded, 1, ", embedded")
    for workers in (1, 2):
        async with services() as env:
            figures += await _throughput(env, workers)
    async with services() as env:
        figures += await _cold_anthropic(env)
    return figures


def run() -> list[Figure]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    from .report import print_table

    print_table(run())
