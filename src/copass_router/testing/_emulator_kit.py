"""The emulator kit: what every provider emulator shares (needs the ``emulator`` extra).

An emulator is a Starlette app that speaks its provider's wire format. The kit wraps it:

- :class:`EmulatorKit` records every request (:class:`~copass_router.testing.RequestLog`),
  applies the shared :class:`~copass_router.testing.Faults` (failures and hangs to every request,
  cuts to every event stream it serves through :meth:`EmulatorKit.event_stream`) and counts what
  became of each stream. The one thing it asks of the emulator is ``render_error``: the
  provider's error response for a status and message.
- :class:`LoopbackServer` serves an app on a free loopback port in a background thread, for
  tests: ready when started, stopped cleanly.
- :func:`serve_emulator` serves one in the foreground, for ``copass-router emulate NAME``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

try:
    import anyio
    import uvicorn
    from starlette.middleware import Middleware
    from starlette.responses import Response, StreamingResponse
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the emulator kit needs Starlette and uvicorn: pip install 'copass-router[emulator]' "
        "(or the provider plugin's extra, e.g. 'copass-router-anthropic[emulator]')"
    ) from exc

from copass_router.serving._listener import (
    KEEP_ALIVE_SECONDS,
    RouterServer,
    base_url,
    bind_socket,
    uvicorn_config,
)
from copass_router.testing._faults import Cut, Faults
from copass_router.testing._request_log import (
    MAX_LOGGED,
    RecordedRequest,
    RequestLog,
    StreamOutcome,
    StreamStats,
)

#: What an event stream's source yields: one event's frame, or frames ready together.
Frames = bytes | str | list[bytes | str]

#: ``render_error(status, message)``: the provider's error response. ``message`` is None when
#: the test gave none: use the provider's usual text for that status.
ErrorRenderer = Callable[[int, str | None], Response]


class StreamCut(Exception):
    """Raised inside a streaming body so the server drops the connection (a ``drop`` cut)."""


class _QuietStreamCut(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


logging.getLogger("uvicorn.error").addFilter(_QuietStreamCut())


class EmulatorKit:
    """The request log, fault switches and stream counters of one emulator.

    :param render_error: the provider's error response for a status and message.
    :param faults: the switches; pass an instance of a :class:`Faults` subclass to add the
        provider's own.
    """

    def __init__(
        self,
        render_error: ErrorRenderer,
        *,
        faults: Faults | None = None,
        max_logged: int = MAX_LOGGED,
    ) -> None:
        self.render_error = render_error
        self.faults = faults if faults is not None else Faults()
        self.requests = RequestLog(max_logged)
        self.streams = StreamStats()

    def middleware(self) -> Middleware:
        """The kit as Starlette middleware (``Starlette(routes, middleware=[kit.middleware()])``):
        each request is logged, then held or failed if a fault says so, then served."""
        return Middleware(_KitMiddleware, kit=self)

    def event_stream(
        self,
        frames: AsyncIterable[Frames],
        *,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/event-stream",
    ) -> StreamingResponse:
        """A streaming response of ``frames`` (one event each, or a list of events ready
        together, written at once as a server writes what it has) that takes the pending cut,
        if any, and counts how the stream ends. ``frames`` is closed whatever happens."""
        return _EventStream(
            frames, self.faults.take_cut(), self.streams, headers=headers, media_type=media_type
        )

    def reset(self) -> None:
        """Forget the log, the pending faults and the stream counters."""
        self.faults.clear()
        self.requests.clear()
        self.streams.reset()


class _KitMiddleware:
    def __init__(self, app: ASGIApp, kit: EmulatorKit) -> None:
        self.app = app
        self.kit = kit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away before sending its request
            return
        method, path = scope["method"], scope["path"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.kit.requests.append(RecordedRequest.build(method, path, query, headers, body))
        faults = self.kit.faults
        held = faults.take_hang(method, path)
        if held:
            await asyncio.sleep(held)
        failure = faults.take_failure(method, path)
        if failure is not None:
            response = self.kit.render_error(failure.status, failure.message)
            if failure.retry_after is not None:
                response.headers["retry-after"] = f"{failure.retry_after:g}"
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body the kit already read, then the real one."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _EventStream(StreamingResponse):
    def __init__(
        self,
        frames: AsyncIterable[Frames],
        cut: Cut | None,
        stats: StreamStats,
        *,
        headers: Mapping[str, str] | None,
        media_type: str,
    ) -> None:
        super().__init__(frames, headers=headers, media_type=media_type)  # type: ignore[arg-type]
        self._cut = cut
        self._stats = stats

    async def stream_response(self, send: Send) -> None:
        self._stats.count("opened")
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        outcome: StreamOutcome = "abandoned"
        sent = 0
        try:
            async for item in self.body_iterator:
                ready = item if isinstance(item, list) else [item]
                over = self._cut is not None and sent + len(ready) > self._cut.after_events
                if over:  # the cut comes with the first event past its count
                    ready = ready[: self._cut.after_events - sent]  # type: ignore[union-attr]
                if ready:
                    chunk = b"".join(f.encode() if isinstance(f, str) else bytes(f) for f in ready)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(ready)
                if over:
                    outcome = "cut"
                    break
            else:
                outcome = "completed"
        finally:
            # Stop what produces the frames (a model turn) even while this task is cancelled.
            with anyio.CancelScope(shield=True):
                aclose: Callable[[], Awaitable[Any]] | None = getattr(
                    self.body_iterator, "aclose", None
                )
                if aclose is not None:
                    await aclose()
            self._stats.count(outcome)
        if outcome == "cut" and self._cut is not None and self._cut.mode == "drop":
            raise StreamCut(f"emulated stream cut after {sent} events")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class LoopbackServer:
    """Serve an ASGI app under uvicorn in a background thread, on a free loopback port.

    >>> with LoopbackServer(app) as server:
    ...     httpx.get(server.base_url + "/v1/models")

    :param before_stop: awaited in the server's loop when stopping, after it stops accepting
        connections: close what keeps responses open (event streams waiting for events).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "emulator",
        before_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sock = bind_socket(host, port)
        self.base_url = base_url(self._sock)
        config = uvicorn_config(app, graceful_timeout=1)
        self._server = RouterServer(config, before_shutdown=before_stop)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=name, daemon=True
        )
        self.name = name

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._sock.getsockname()[1])

    def start(self, timeout: float = 30) -> LoopbackServer:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start on {self.base_url}")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (open responses get a second to finish)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_emulator(app: ASGIApp, host: str, port: int, *, banner: Callable[[str], str]) -> None:
    """Serve ``app`` in the foreground until interrupted (``copass-router emulate NAME``).

    Port 0 picks a free port; ``banner(base_url)`` is printed once the port is bound, to tell the
    user what to export.
    """
    sock = bind_socket(host, port)
    print(banner(base_url(sock)), flush=True)
    config = uvicorn.Config(
        app, lifespan="off", log_level="info", timeout_keep_alive=KEEP_ALIVE_SECONDS
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
