"""Run the emulator on a free loopback port in a background thread (for tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .emulator import OpenAIEmulator


class RunningEmulator:
    """A started emulator: its ``base_url`` (ending in ``/v1``) and the emulator itself."""

    def __init__(self, emulator: OpenAIEmulator, base_url: str) -> None:
        self.emulator = emulator
        self.base_url = base_url

    def __getattr__(self, name: str) -> Any:
        # Switches and logs (fail_next, chat_requests...) are the emulator's own.
        return getattr(self.emulator, name)


@contextmanager
def running_emulator(**options: Any) -> Iterator[RunningEmulator]:
    """Start an :class:`OpenAIEmulator` (``options`` go to its constructor) and stop it after.

    >>> with running_emulator(api_key="sk-test") as emu:
    ...     client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="sk-test")
    """
    import uvicorn

    emulator = OpenAIEmulator(**options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(emulator.app, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="openai-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the OpenAI emulator did not start")
        time.sleep(0.01)
    try:
        yield RunningEmulator(emulator, f"http://127.0.0.1:{port}/v1")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
