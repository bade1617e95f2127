"""A hosted worker in its own process, and a RemoteRouter talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

from copass_router import RemoteRouter

from .emulator_process import _free_port

UNCAPPED = {
    "COPASS_ROUTER_MAX_RUNS": "0",
    "COPASS_ROUTER_MAX_RUNS_PER_KEY": "0",
    "COPASS_ROUTER_MAX_CONNECTIONS": "4000",
}


@contextlib.asynccontextmanager
async def hosted_worker(env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """Start `python -m bench.hosted_server`; yield its base URL and process id."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.hosted_server",
        str(port),
        # No keys, and no caps on runs in flight: figure 4 runs 1,000 at once from one client.
        env={**os.environ, **env, "COPASS_ROUTER_API_KEYS": "", **UNCAPPED},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port, "the hosted worker")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


@contextlib.asynccontextmanager
async def hosted_router(env: dict[str, str], **_: Any) -> AsyncIterator[RemoteRouter]:
    """A RemoteRouter connected to a fresh hosted worker."""
    async with hosted_worker(env) as (url, _pid), RemoteRouter(url) as remote:
        yield remote


async def wait_for_port(port: int, what: str) -> None:
    """Wait (up to about 30 s) until something listens on ``port`` on loopback."""
    for _ in range(600):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not start")
