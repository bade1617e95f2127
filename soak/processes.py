"""The soak's subprocesses (hosted worker, provider emulator): started on a free loopback port,
waited for with a bound, stopped with SIGTERM and then SIGKILL, their stderr kept in a file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import attrs

START_SECONDS = 60.0
STOP_SECONDS = 30.0


@attrs.frozen
class Child:
    """A running subprocess listening on ``port``."""

    name: str
    pid: int
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        """What the process wrote to stderr/stdout."""
        try:
            return self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []


def free_port() -> int:
    """A loopback port nobody listens on (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_listening(port: int, proc: asyncio.subprocess.Process, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} during startup")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {START_SECONDS:g} s")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_SECONDS)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.wait(), STOP_SECONDS)


@contextlib.asynccontextmanager
async def running(
    name: str, argv: Sequence[str], port: int, env: dict[str, str], log_dir: Path
) -> AsyncIterator[Child]:
    """Run ``argv`` (which must listen on ``port``) for the duration of the block."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **env}, stdout=sink, stderr=sink
        )
    try:
        await _wait_listening(port, proc, name)
        yield Child(name, proc.pid, port, log)
    finally:
        await _stop(proc)


def worker_argv(port: int) -> list[str]:
    """The hosted worker: ``python -m soak.worker PORT``."""
    return [sys.executable, "-m", "soak.worker", str(port)]


def emulator_argv(provider: str, port: int) -> list[str]:
    """``copass-router emulate PROVIDER --port PORT`` (the provider's emulator, own process)."""
    exe = shutil.which("copass-router") or str(Path(sys.executable).parent / "copass-router")
    return [exe, "emulate", provider, "--port", str(port)]
