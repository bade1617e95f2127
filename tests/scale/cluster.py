"""Worker processes of one router on loopback, for the scale-out tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

WORKER = str(Path(__file__).with_name("worker.py"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Worker:
    """One worker process (``worker.py``) on its own port."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, WORKER, str(self.port)],
                env={**self._env, "COPASS_ROUTER_API_KEYS": "", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, no goodbye."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextlib.contextmanager
def cluster(env: Mapping[str, str], log_dir: Path, count: int = 2) -> Iterator[list[Worker]]:
    """``count`` workers sharing ``env`` (the store and coordinator URLs), stopped on exit."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")}
    workers = [Worker({**base, **env}, log_dir / f"worker-{i}.log") for i in range(count)]
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()
