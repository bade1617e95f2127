"""``python -m soak.resume_flood``: hundreds of clients resume one long run and never read.

Starts the soak's hosted worker (``soak.worker``; with ``--redis URL`` two of them sharing the
run logs in Redis, the run on one and the resumers on the other), runs one echo ``/long
--words`` to its end (a log of ~3 MiB for 20,000 words), then opens ``--readers`` connections
that ask for the whole run again (``Last-Event-ID: 0``) and read nothing, with a small receive
buffer, for ``--seconds``. Meanwhile another tenant polls ``/healthz`` every 50 ms from a
process of its own (:mod:`.health_probe`). Printed: the ``/healthz`` latency, the workers' RSS
(idle and peak) and how the resumes were answered (200, or 429 past the readers' caps).

``--no-caps`` lifts the readers' caps, to measure what each connection costs. This is a
measurement, not a test: docs/hosted.md quotes its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx

from .flood import BYSTANDER, FLOODER
from .health_probe import HealthProbe
from .processes import Child, free_port, running, worker_argv
from .procfs import rss_kib

LOG_ENV = {
    "COPASS_ROUTER_RUN_LOG_MAX_EVENTS": "50000",
    "COPASS_ROUTER_RUN_LOG_MAX_TOTAL_BYTES": str(256 * 2**20),
    "COPASS_ROUTER_RUN_LOG_RETENTION": "600",
}


async def _resume(port: int, run_id: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = (
        f"GET /v1/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {FLOODER}\r\nLast-Event-ID: 0\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    return sock


async def _status(sock: socket.socket) -> str:
    loop = asyncio.get_running_loop()
    try:
        head = await asyncio.wait_for(loop.sock_recv(sock, 12), 10)
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        sock.close()
    return f"http {head[9:12].decode(errors='replace')}" if head else "closed"


async def _sample_rss(pids: list[int], peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], sum(rss_kib(pid) for pid in pids))
        await asyncio.sleep(0.1)


async def measure(
    readers: int, words: int, seconds: float, redis: str | None, caps: bool
) -> dict[str, object]:
    env = {"COPASS_ROUTER_API_KEYS": f"flood:{FLOODER},quiet:{BYSTANDER}", **LOG_ENV}
    if not caps:
        env |= {"COPASS_ROUTER_MAX_READERS_PER_RUN": "0", "COPASS_ROUTER_MAX_READERS_PER_KEY": "0"}
    if redis:
        prefix = f"soak_{uuid.uuid4().hex[:10]}"
        joint = "&" if "?" in redis else "?"
        env["COPASS_ROUTER_COORDINATOR"] = f"{redis}{joint}prefix={prefix}"
    with tempfile.TemporaryDirectory() as logs:
        async with contextlib.AsyncExitStack() as stack:
            workers: list[Child] = []
            for index in range(2 if redis else 1):
                port = free_port()
                workers.append(
                    await stack.enter_async_context(
                        running(f"worker-{index}", worker_argv(port), port, env, Path(logs))
                    )
                )
            runner, server = workers[0], workers[-1]
            async with httpx.AsyncClient(
                base_url=runner.url, headers={"Authorization": f"Bearer {FLOODER}"}, timeout=120
            ) as http:
                run = await http.post(
                    "/v1/runs", json={"provider": "echo", "message": f"/long {words}"}
                )
            run_id = run.headers["x-copass-run-id"]
            await asyncio.sleep(1)  # the log is written (to Redis too)
            pids = [w.pid for w in workers]
            idle = sum(rss_kib(pid) for pid in pids)
            peak = [idle]
            stop = asyncio.Event()
            probe = HealthProbe(server.url, BYSTANDER)
            await asyncio.to_thread(probe.start)
            sampler = asyncio.create_task(_sample_rss(pids, peak, stop))
            opened: list[socket.socket] = []
            failed: Counter[str] = Counter()
            for _ in range(readers):
                try:
                    opened.append(await _resume(server.port, run_id))
                except OSError as exc:
                    failed[type(exc).__name__] += 1
            await asyncio.sleep(seconds)
            stop.set()
            samples = await asyncio.to_thread(probe.stop)
            await sampler
            answers = Counter(await asyncio.gather(*(_status(s) for s in opened))) + failed
    ordered = sorted(samples) or [0.0]
    return {
        "log_bytes": len(run.content),
        "workers": len(pids),
        "readers": readers,
        "healthz_samples": len(samples),
        "healthz_median_ms": round(statistics.median(ordered) * 1000, 1),
        "healthz_max_ms": round(ordered[-1] * 1000, 1),
        "rss_idle_mib": round(idle / 1024, 1),
        "rss_peak_mib": round(peak[0] / 1024, 1),
        "rss_growth_mib": round((peak[0] - idle) / 1024, 1),
        "resume_answers": dict(answers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=500, help="resumers that never read")
    parser.add_argument("--words", type=int, default=20_000, help="/long N: the run's length")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long they are held")
    parser.add_argument("--redis", help="two workers sharing run logs in this Redis")
    parser.add_argument("--no-caps", action="store_true", help="lift the readers' caps")
    args = parser.parse_args()
    result = asyncio.run(
        measure(args.readers, args.words, args.seconds, args.redis, not args.no_caps)
    )
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
