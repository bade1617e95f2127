"""An offline emulator of the Claude Managed Agents API, for tests and offline development.

Run it with ``copass-router emulate anthropic --port 8765`` (or :func:`serve`) and point the SDK or
the backend at it with ``ANTHROPIC_BASE_URL=http://127.0.0.1:8765`` and any API key. Tests use
:func:`running_emulator`, which serves on a free loopback port in a background thread and exposes
the request log, create counters and fault switches (:class:`EmulatorServer`).

The agent behind every session is the scripted model of ``copass_router.testing``: plain text is
echoed (streamed word by word as ``event_delta`` previews), ``/tool NAME {json}`` calls a custom
tool and then reports its result, ``/tools a {} ; b {}`` calls several at once, ``/error CODE msg``
emits ``session.error`` and ends ``retries_exhausted``, ``/refuse`` ends with a refusal, ``/slow S
text`` pauses between deltas and ``/recall`` lists what the session holds. A name of a built-in
tool (``bash``...) is run by the "environment" when the agent has ``agent_toolset_20260401``, and
``server.tool`` goes to an MCP server the agent declares.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .emulator_routes import EmulatorApi
from .emulator_state import EmulatorState, FailRule, Faults, RecordedRequest

__all__ = [
    "EmulatorServer",
    "EmulatorState",
    "FailRule",
    "Faults",
    "RecordedRequest",
    "build_app",
    "running_emulator",
    "serve",
]


def build_app(state: EmulatorState | None = None) -> Starlette:
    """The emulator as an ASGI app; ``app.state.emulator`` is its :class:`EmulatorState`."""
    state = state or EmulatorState()
    api = EmulatorApi(state)
    app = Starlette(routes=api.routes())
    app.state.emulator = state
    app.state.api = api
    return app


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve the emulator until interrupted (what ``copass-router emulate anthropic`` runs).

    Port 0 picks a free port; the address is printed either way.
    """
    sock = _listen(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    print(f"anthropic emulator: export ANTHROPIC_BASE_URL={url} (any API key)", flush=True)
    server = uvicorn.Server(uvicorn.Config(build_app(), log_level="info"))
    asyncio.run(server.serve(sockets=[sock]))


class EmulatorServer:
    """A running emulator on a loopback port, with its state at hand for assertions.

    ``state`` holds ``requests`` (the request log), ``creates`` (a Counter by kind),
    ``rate_limited``, ``interrupts``, ``streams_opened``, ``faults`` (switches) and the resources.
    """

    def __init__(self, **state_options: Any) -> None:
        self.state = EmulatorState(**state_options)
        self.app = build_app(self.state)
        self._sock = _listen("127.0.0.1", 0)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="anthropic-emulator", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        finally:
            loop.close()

    def start(self) -> EmulatorServer:
        """Start serving; returns once the port accepts connections."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the anthropic emulator failed to start")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        """Close every open event stream and stop the server."""
        loop = self._loop
        if loop is not None and loop.is_running():
            api: EmulatorApi = self.app.state.api
            for engine in list(api.engines.values()):
                loop.call_soon_threadsafe(engine.close_streams)
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Shortcuts for tests -------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The fault switches."""
        return self.state.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self.state.requests

    def fail_next(self, status: int, **options: Any) -> FailRule:
        """See :meth:`EmulatorState.fail_next`."""
        return self.state.fail_next(status, **options)


@contextlib.contextmanager
def running_emulator(**state_options: Any) -> Iterator[EmulatorServer]:
    """Serve an emulator on a free loopback port for the duration of the block.

    Options go to :class:`EmulatorState`: ``api_key``, ``create_limit``, ``create_period``
    (seconds; tests shorten the real 60-second window), ``page_size``.
    """
    server = EmulatorServer(**state_options).start()
    try:
        yield server
    finally:
        server.stop()
