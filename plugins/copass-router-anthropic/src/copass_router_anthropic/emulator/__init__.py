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

import contextlib
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette

from copass_router.testing import (
    LoopbackServer,
    RecordedRequest,
    RequestLog,
    StreamStats,
    serve_emulator,
)

from ._routes import EmulatorApi
from ._state import AnthropicFaults, EmulatorState

__all__ = [
    "AnthropicFaults",
    "EmulatorServer",
    "EmulatorState",
    "RecordedRequest",
    "build_app",
    "running_emulator",
    "serve",
]


def build_app(state: EmulatorState | None = None) -> Starlette:
    """The emulator as an ASGI app; ``app.state.emulator`` is its :class:`EmulatorState`."""
    state = state or EmulatorState()
    api = EmulatorApi(state)
    app = Starlette(routes=api.routes(), middleware=[state.kit.middleware()])
    app.state.emulator = state
    app.state.api = api
    return app


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve the emulator until interrupted (what ``copass-router emulate anthropic`` runs).

    Port 0 picks a free port; the address is printed either way.
    """
    serve_emulator(build_app(), host, port, banner=_banner)


def _banner(url: str) -> str:
    return f"anthropic emulator: export ANTHROPIC_BASE_URL={url} (any API key)"


class EmulatorServer:
    """A running emulator on a loopback port, with its state at hand for assertions.

    ``state`` holds ``requests`` (the request log), ``creates`` (a Counter by kind),
    ``rate_limited``, ``interrupts``, ``streams`` (opened, cut...), ``faults`` (switches) and
    the resources.
    """

    def __init__(self, **state_options: Any) -> None:
        self.state = EmulatorState(**state_options)
        self.app = build_app(self.state)
        self._server = LoopbackServer(
            self.app, name="anthropic-emulator", before_stop=self._close_streams
        )
        self.base_url = self._server.base_url
        self.port = self._server.port

    async def _close_streams(self) -> None:
        api: EmulatorApi = self.app.state.api
        for engine in list(api.engines.values()):
            engine.close_streams()

    def start(self) -> EmulatorServer:
        """Start serving; returns once the port accepts connections."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Close every open event stream and stop the server."""
        self._server.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Shortcuts for tests -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the request log, the pending faults and the stream counters (resources stay)."""
        self.state.kit.reset()

    @property
    def faults(self) -> AnthropicFaults:
        """The fault switches: the kit's ``fail_next``, ``cut_stream``, ``hang`` and this API's."""
        return self.state.faults

    @property
    def requests(self) -> RequestLog:
        """Every request received, in order."""
        return self.state.requests

    @property
    def streams(self) -> StreamStats:
        """How the event streams ended (``opened``, ``completed``, ``cut``, ``abandoned``)."""
        return self.state.streams


@contextlib.contextmanager
def running_emulator(**state_options: Any) -> Iterator[EmulatorServer]:
    """Serve an emulator on a free loopback port for the duration of the block.

    Options go to :class:`EmulatorState`: ``api_key``, ``create_limit``, ``create_period``
    (seconds; tests shorten the real 60-second window), ``page_size``.
    """
    with EmulatorServer(**state_options) as server:
        yield server
