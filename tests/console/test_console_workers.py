"""``copass-router serve --workers 2`` on PostgreSQL and Redis: the console shows the runs of
every worker, whichever worker serves the page, and cancels a run another worker runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from ..scale.cluster import free_port
from ..services import postgres_url, redis_url  # noqa: F401 - fixtures

EXE = str(Path(sys.executable).parent / "copass-router")
ADMIN = "console-admin-key-0123456789abcdef"
SLOW = "/slow 0.5 " + " ".join(f"w{i}" for i in range(80))


@contextlib.contextmanager
def _serving(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``copass-router serve --workers 2``, stopped (SIGTERM) on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port), "--workers", "2", "--grace", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


async def _sign_in(http: httpx.AsyncClient) -> str:
    form = await http.get("/console/login")
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    answer = await http.post("/console/login", data={"token": token[1], "admin_key": ADMIN})
    assert answer.status_code == 303
    page = await http.get("/console/health")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return csrf[1]


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{base}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _run(base: str, index: int) -> str:
    # A connection of its own each: the kernel spreads new connections over the workers.
    async with httpx.AsyncClient(timeout=120) as http:
        answer = await http.post(
            f"{base}/v1/runs",
            json={"provider": "echo", "message": SLOW, "end_user_id": f"u{index}"},
        )
        return answer.text


async def test_the_console_shows_and_cancels_the_runs_of_every_worker(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")},
        "COPASS_ROUTER_API_KEYS": "",
        "COPASS_ROUTER_ADMIN_KEY": ADMIN,
        "COPASS_ROUTER_STORE": postgres_url,
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "HOME": str(tmp_path),
    }
    runs: list[asyncio.Task[str]] = []
    with _serving(env, port, tmp_path / "serve.log") as proc:
        try:
            deadline = time.monotonic() + 60
            while not await _healthy(base):
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient(base_url=base, timeout=30) as console:
                csrf = await _sign_in(console)
                workers: set[str] = set()
                listed: list[dict[str, str]] = []
                deadline = time.monotonic() + 60
                while len(workers) < 2:
                    assert time.monotonic() < deadline, f"runs seen on {workers} only"
                    if len(runs) < 12:
                        runs.append(asyncio.create_task(_run(base, len(runs))))
                    await asyncio.sleep(0.5)
                    listed = (await console.get("/console/runs.json")).json()["runs"]
                    workers = {run["worker_id"] for run in listed}
                health = await console.get("/console/health")
                assert len(re.findall(r"<tr data-worker=", health.text)) == 2
                assert "unreachable" not in health.text
                page = await console.get("/console/runs")
                for run in listed:
                    assert run["run_id"] in page.text
                # Follow each run's events, through whichever worker serves the request.
                for run in listed:
                    path = f"/console/runs/{run['run_id']}/events"
                    async with console.stream("GET", path) as events:
                        seen = ""
                        async for chunk in events.aiter_text():
                            seen += chunk
                            if '"type":"text_delta"' in seen:
                                break
                    assert seen.startswith('id: 0\ndata: {"type":"run_started"')
                    assert run["run_id"] in seen and "event:" not in seen
                # Cancel every run, through whichever worker serves each request.
                cancelled: set[str] = set()
                deadline = time.monotonic() + 60
                while listed:
                    assert time.monotonic() < deadline, f"still running: {listed}"
                    for run in listed:
                        if run["run_id"] not in cancelled:
                            answer = await console.post(
                                f"/console/runs/{run['run_id']}/cancel", data={"csrf": csrf}
                            )
                            assert answer.status_code == 303
                            cancelled.add(run["run_id"])
                    await asyncio.sleep(0.5)
                    listed = (await console.get("/console/runs.json")).json()["runs"]
            texts = await asyncio.wait_for(asyncio.gather(*runs), 60)
            for run_id in cancelled:
                [text] = [t for t in texts if run_id in t]
                assert '"stop_reason":"cancelled"' in text, text[-300:]
        finally:
            for task in runs:
                task.cancel()
