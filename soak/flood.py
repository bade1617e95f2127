"""``python -m soak.flood``: one tenant floods a hosted worker; how do other clients fare?

Starts the soak's hosted worker (``soak.worker``: echo provider, in-memory store) with two API
keys. The flooding tenant opens ``--streams`` runs at once, each asking echo for ``/long
--words`` (or, with ``--echo-chars``, echoing a message of that many characters) and reading its
stream as fast as it can; every request it sends, refused or not, is counted. Meanwhile the other
tenant polls ``/healthz`` every 50 ms from a process of its own. Printed: the ``/healthz`` latency
(median, p99, max), the worker's peak RSS, and how the flood's requests were answered.

This is a measurement, not a test: run it by hand, before and after a change
(docs/hosted.md quotes its figures).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from .health_probe import HealthProbe
from .processes import free_port, running, worker_argv
from .procfs import rss_kib

FLOODER = "flood-key-0123456789abcdef"
BYSTANDER = "quiet-key-0123456789abcdef"


async def _flood_one(url: str, message: str, outcome: Counter[str], stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {FLOODER}"}
    body = {"provider": "echo", "message": message}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as http:
        while not stop.is_set():
            try:
                async with http.stream("POST", "/v1/runs", json=body) as response:
                    frames = 0
                    async for _ in response.aiter_bytes():
                        frames += 1
                        if stop.is_set():
                            break
                    outcome[f"http {response.status_code}"] += 1
                    if response.status_code != 200:
                        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            except httpx.HTTPError as exc:
                outcome[type(exc).__name__] += 1
                await asyncio.sleep(0.5)


async def _sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kib(pid))
        await asyncio.sleep(0.1)


async def measure(message: str, streams: int, seconds: float) -> dict[str, object]:
    port = free_port()
    env = {"COPASS_ROUTER_API_KEYS": f"flood:{FLOODER},quiet:{BYSTANDER}"}
    with tempfile.TemporaryDirectory() as logs:
        async with running("worker", worker_argv(port), port, env, Path(logs)) as worker:
            url = worker.url
            idle_rss = rss_kib(worker.pid)
            stop = asyncio.Event()
            peak = [idle_rss]
            outcome: Counter[str] = Counter()
            probe = HealthProbe(url, BYSTANDER)
            await asyncio.to_thread(probe.start)
            tasks = [asyncio.create_task(_sample_rss(worker.pid, peak, stop))]
            tasks += [
                asyncio.create_task(_flood_one(url, message, outcome, stop)) for _ in range(streams)
            ]
            await asyncio.sleep(seconds)
            stop.set()
            samples = await asyncio.to_thread(probe.stop)
            await asyncio.wait(tasks, timeout=120)
            for task in tasks:
                task.cancel()
    ordered = sorted(samples) or [0.0]
    return {
        "healthz_samples": len(samples),
        "healthz_median_ms": round(statistics.median(ordered) * 1000, 1),
        "healthz_p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 1),
        "healthz_max_ms": round(ordered[-1] * 1000, 1),
        "rss_idle_mib": round(idle_rss / 1024, 1),
        "rss_peak_mib": round(peak[0] / 1024, 1),
        "flood_answers": dict(outcome),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=5_000_000, help="/long N per run")
    parser.add_argument("--echo-chars", type=int, default=0, help="echo a message this long")
    parser.add_argument("--streams", type=int, default=1, help="flooding runs at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to flood")
    args = parser.parse_args()
    message = "a " * (args.echo_chars // 2) if args.echo_chars else f"/long {args.words}"
    result = asyncio.run(measure(message, args.streams, args.seconds))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
