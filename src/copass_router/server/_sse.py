"""Server-Sent Events: how one neutral event becomes one frame, and the streaming response.

A frame is::

    event: <event type>
    id: <seq>
    data: <the event as compact JSON, from the core's one converter>

followed by a blank line. JSON never contains a raw newline, so ``data`` is always one line.
A comment line (``: ping``) is a heartbeat: it keeps proxies and clients from timing out while a
turn is quiet (a long tool call, a slow provider), and SSE parsers ignore it. The ``id`` is what
a client sends back as ``Last-Event-ID`` to resume the run (:mod:`.resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from copass_router._events import Event, event_to_json

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": ping\n\n"
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and friends buffer responses unless told not to; a buffered stream is no stream.
    "X-Accel-Buffering": "no",
}


def encode_event(event: Event) -> bytes:
    """One SSE frame for ``event``."""
    return (f"event: {event.type}\nid: {event.seq}\ndata: {event_to_json(event)}\n\n").encode()


class SSEResponse(StreamingResponse):
    """A ``text/event-stream`` response that notices a client leaving, at once.

    Starlette's own streaming response only learns of a disconnect when a write fails (ASGI
    2.4) or cancels the body inside an anyio cancel scope, where the cleanup's own awaits would
    be cancelled again. Here the body runs in a plain task beside a task watching ``receive``;
    whichever ends first ends the other, and ``on_close(disconnected)`` runs last, outside any
    cancelled scope, so it can cancel the turn and wait for the provider to stop.
    """

    media_type = MEDIA_TYPE

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        on_close: Callable[[bool], Awaitable[None]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(frames, headers={**STREAM_HEADERS, **(headers or {})})
        self._frames = frames
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            writer = asyncio.ensure_future(self._write(send))
            watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
            try:
                await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                disconnected = watcher.done() and not writer.done()
                for task in (writer, watcher):
                    task.cancel()
                await asyncio.wait({writer, watcher})
            if writer.done() and not writer.cancelled() and writer.exception() is not None:
                # The transport failed mid-write: the client is gone.
                disconnected = True
        finally:
            await self._on_close(disconnected)

    async def _write(self, send: Send) -> None:
        try:
            async for chunk in self._frames:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(self._frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError):
                    await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
