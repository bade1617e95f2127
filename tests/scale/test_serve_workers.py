"""``copass-router serve --workers N``: N processes on one port, kept running, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .cluster import free_port

EXE = str(Path(sys.executable).parent / "copass-router")


def _workers(parent: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]


def _wait(predicate: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_serve_workers_runs_n_processes_on_one_port(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")},
        "COPASS_ROUTER_API_KEYS": "",
        "COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'shared.db'}",
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "HOME": str(tmp_path),
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", "2", "--grace", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: len(_workers(proc.pid)) == 2 and _healthy(base))
        first = _workers(proc.pid)
        sessions = set()
        for i in range(20):  # new connections: the kernel spreads them over both workers
            with httpx.Client(timeout=30) as http:
                run = http.post(f"{base}/v1/runs", json={"provider": "echo", "message": f"n{i}"})
            assert run.status_code == 200 and "run_finished" in run.text
            sessions.add(run.headers["x-copass-session-id"])
        assert len(sessions) == 20
        # A worker that dies is replaced; the port keeps answering meanwhile.
        os.kill(first[0], signal.SIGKILL)
        _wait(lambda: len(_workers(proc.pid)) == 2 and first[0] not in _workers(proc.pid))
        _wait(lambda: _healthy(base))
        # The replacement has its router up (it prints once it listens) before the stop.
        _wait(lambda: (tmp_path / "serve.log").read_text().count("copass-router serving on") == 3)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log.close()
    out = (tmp_path / "serve.log").read_text()
    assert code == 0, out
    assert out.count("copass-router serving on") == 3  # two workers, then the replacement
    assert "exited (-9); starting another" in out


def test_serve_workers_without_a_coordinator_warns(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")},
        "COPASS_ROUTER_API_KEYS": "",
        "COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'shared.db'}",
        "HOME": str(tmp_path),
    }
    port = free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "without COPASS_ROUTER_COORDINATOR" in proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
