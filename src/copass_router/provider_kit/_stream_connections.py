"""The connections event streams are opened on: kept when a body ends, made ahead when not.

A stream the client stops reading (a session's event stream, which never ends by itself) closes
its connection, so the next stream needs a new one: a TCP and, to a real provider, a TLS
handshake, one or two round trips before its request can even be sent. So as a stream takes a
connection and none is left idle, the next one starts being made in the background. A response
read to its end (a chat completion's stream ends with the completion) gives its connection back
for the next request, as a pooled HTTP client would. An idle connection not used for
:data:`SPARE_FOR` seconds is closed instead (servers drop idle connections), as is one the
server has closed meanwhile; at most :data:`IDLE_PER_ORIGIN` are kept per origin.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

#: Seconds an idle connection is kept for the next stream.
SPARE_FOR = 15.0
#: Idle connections kept per origin (as many as httpx keeps alive).
IDLE_PER_ORIGIN = 20

Origin = tuple[str, str, int]  # scheme, host, port
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class StreamConnections:
    """Connections for event streams, by origin (see the module's docstring)."""

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[tuple[float, Connection]]] = {}
        self._making: dict[Origin, asyncio.Task[Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def take(self, origin: Origin, seconds: float | None) -> tuple[Connection, bool]:
        """A connection to ``origin`` for one request, and whether it was made before (idle
        or made ahead). Raises ``OSError`` or ``TimeoutError`` as connecting does."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that made them
            self.close()
            self._loop = loop
        found = self._idle_one(origin, loop.time())
        making = None if found is not None else self._making.pop(origin, None)
        if not self._idle.get(origin) and origin not in self._making:
            self._make_ahead(origin)  # for the next request
        if found is not None:
            return found, True
        if making is not None:
            try:
                reader, writer = await within(asyncio.shield(making), seconds)
            except BaseException as exc:
                making.add_done_callback(_close_result)  # nobody takes it any more
                if not isinstance(exc, Exception):
                    raise
                # it failed: connect below, which says why if it fails again
            else:
                if _open(reader, writer):
                    return (reader, writer), True
                writer.close()
        return await self.connect(origin, seconds), False

    def give_back(self, origin: Origin, connection: Connection) -> None:
        """Keep a connection whose response was read to its end for the next request."""
        reader, writer = connection
        idle = self._idle.setdefault(origin, [])
        if self._loop is not asyncio.get_running_loop() or len(idle) >= IDLE_PER_ORIGIN:
            writer.close()
        elif _open(reader, writer):
            idle.append((asyncio.get_running_loop().time(), connection))
        else:
            writer.close()

    def _idle_one(self, origin: Origin, now: float) -> Connection | None:
        """The newest idle connection to ``origin`` still open (those too old are closed)."""
        idle = self._idle.get(origin)
        while idle:
            made, (reader, writer) = idle.pop()
            if now - made < SPARE_FOR and _open(reader, writer):
                return reader, writer
            writer.close()
        return None

    async def connect(self, origin: Origin, seconds: float | None) -> Connection:
        """A new connection to ``origin``."""
        scheme, host, port = origin
        secure = scheme == "https"
        context = (self._ssl or ssl.create_default_context()) if secure else None
        reader, writer = await within(
            asyncio.open_connection(
                host, port, ssl=context, server_hostname=host if secure else None
            ),
            seconds,
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:  # a stream may be quiet for minutes: find a dead peer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return reader, writer

    def _make_ahead(self, origin: Origin) -> None:
        task = asyncio.ensure_future(self.connect(origin, SPARE_FOR))
        self._making[origin] = task
        task.add_done_callback(lambda t: self._made(origin, t))

    def _made(self, origin: Origin, task: asyncio.Task[Connection]) -> None:
        if self._making.get(origin) is not task:
            return  # taken by a request while it was being made, or closed
        del self._making[origin]
        if task.cancelled() or task.exception() is not None:
            return  # the next request connects itself, and reports what fails
        self.give_back(origin, task.result())

    def close(self) -> None:
        """Close the idle connections and those being made (a request's own connection
        closes with its response)."""
        for task in self._making.values():
            task.cancel()
            task.add_done_callback(_close_result)
        self._making.clear()
        for idle in self._idle.values():
            for _, (_, writer) in idle:
                writer.close()
        self._idle.clear()


def _open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Whether a connection made ahead is still open (not closed by the server meanwhile)."""
    return not writer.is_closing() and not reader.at_eof()


def _close_result(task: asyncio.Task[Connection]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result()[1].close()


async def within(work: Any, seconds: float | None) -> Any:
    if seconds is None:
        return await work
    async with asyncio.timeout(seconds):
        return await work
