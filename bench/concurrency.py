"""Figure 4: 1,000 concurrent streaming runs on echo against one hosted worker (2 cores):
p50/p99 time to first event, runs per second, errors, worker memory per concurrent run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from copass_router import RemoteRouter, RunFinished, RunStarted, StopReason

from .hosted_harness import hosted_worker
from .report import Figure

RUNS = 1_000
BURST = "/slow 0.02 one two three four five"  # ~100 ms of streaming
HELD = "/slow 0.6 one two three four five"  # ~3 s of streaming: runs pile up to 1,000 at once
RAMP_PER_SECOND = 350


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _one(remote: RemoteRouter, i: int, message: str = BURST) -> tuple[float, bool]:
    start = time.perf_counter()
    first = 0.0
    ok = False
    async for event in remote.run(provider="echo", message=message, end_user_id=f"u{i}"):
        if isinstance(event, RunStarted):
            first = time.perf_counter() - start
        if isinstance(event, RunFinished):
            ok = event.stop_reason is StopReason.END_TURN
    return first, ok


async def _measure() -> list[Figure]:
    import httpx

    async with hosted_worker({}) as (url, pid):
        limits = httpx.Limits(max_connections=RUNS + 10, max_keepalive_connections=RUNS + 10)
        transport = httpx.AsyncHTTPTransport(limits=limits)
        async with RemoteRouter(url, timeout=120, transport=transport) as remote:
            await _one(remote, -1)
            idle = _rss_kib(pid)
            peak = idle
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _rss_kib(pid))
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            start = time.perf_counter()
            burst = await asyncio.gather(
                *(_one(remote, i) for i in range(RUNS)), return_exceptions=True
            )
            burst_wall = time.perf_counter() - start
            held = await _ramp(remote)
            done.set()
            await sampler
    burst_errors, burst_p50, burst_p99 = _summary(burst)
    errors, p50, p99 = _summary(held)
    return [
        Figure(
            "4. 1000 runs started at once: errors", burst_errors, "runs", "== 0", burst_errors == 0
        ),
        Figure("4. 1000 runs started at once: runs per second", RUNS / burst_wall, "runs/s"),
        Figure(
            "4. 1000 runs started at once: p99 time to first event",
            burst_p99,
            "ms",
            detail={"p50_ms": burst_p50},
        ),
        Figure("4. 1000 concurrent runs (ramped): errors", errors, "runs", "== 0", errors == 0),
        Figure("4. 1000 concurrent runs (ramped): p50 time to first event", p50, "ms"),
        Figure(
            "4. 1000 concurrent runs (ramped): p99 time to first event",
            p99,
            "ms",
            "< 50 ms",
            p99 < 50,
        ),
        Figure(
            "4. worker memory per concurrent run",
            (peak - idle) / RUNS,
            "KiB",
            detail={"idle_kib": idle, "peak_kib": peak},
        ),
    ]


async def _ramp(remote: RemoteRouter) -> list[object]:
    """Start runs at a steady rate; each streams for ~3 s, so about 1,000 are in flight."""
    tasks = []
    for i in range(RUNS):
        tasks.append(asyncio.create_task(_one(remote, RUNS + i, HELD)))
        await asyncio.sleep(1 / RAMP_PER_SECOND)
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def _summary(outcomes: list[object]) -> tuple[int, float, float]:
    good = [o for o in outcomes if isinstance(o, tuple) and o[1]]
    firsts = sorted(o[0] * 1000 for o in good) or [float("nan")]
    p99 = firsts[min(len(firsts) - 1, int(len(firsts) * 0.99))]
    return RUNS - len(good), firsts[len(firsts) // 2], p99


def run() -> list[Figure]:
    return asyncio.run(_measure())
