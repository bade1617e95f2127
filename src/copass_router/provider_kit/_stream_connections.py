"""The connections event streams are opened on: one per stream, the next one made ahead.

A stream's connection is closed with the stream (its body is never read to the end), so each
stream needs a new one: a TCP and, to a real provider, a TLS handshake, one or two round trips
before the stream's request can even be sent. Here, as a stream takes its connection, the next
one to the same origin starts being made in the background: the next stream finds it ready.
A connection made ahead and not used for :data:`SPARE_FOR` seconds is closed instead (servers
drop idle connections), as is one the server has closed meanwhile.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

#: Seconds a connection made ahead is kept for the next stream.
SPARE_FOR = 15.0

Origin = tuple[str, str, int]  # scheme, host, port
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class StreamConnections:
    """Connections for event streams, by origin (see the module's docstring)."""

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self._ssl = ssl_context
        self._spares: dict[Origin, tuple[float, Connection]] = {}
        self._making: dict[Origin, asyncio.Task[Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def take(self, origin: Origin, seconds: float | None) -> tuple[Connection, bool]:
        """A connection to ``origin`` for one stream, and whether it was made ahead. Raises
        ``OSError`` or ``TimeoutError`` as connecting does."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that made them
            self.close()
            self._loop = loop
        spare = self._spares.pop(origin, None)
        making = self._making.pop(origin, None)
        self._make_ahead(origin)
        if spare is not None:
            made, (reader, writer) = spare
            if loop.time() - made < SPARE_FOR and _open(reader, writer):
                return (reader, writer), True
            writer.close()
        if making is not None:
            try:
                reader, writer = await within(asyncio.shield(making), seconds)
            except BaseException as exc:
                making.add_done_callback(_close_result)  # nobody takes it any more
                if not isinstance(exc, Exception):
                    raise
            else:  # it failed: connect now, and say why then
                if _open(reader, writer):
                    return (reader, writer), True
                writer.close()
        return await self.connect(origin, seconds), False

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
            return  # taken by a stream while it was being made, or closed
        del self._making[origin]
        if task.cancelled() or task.exception() is not None:
            return  # the next stream connects itself, and reports what fails
        old = self._spares.pop(origin, None)
        if old is not None:
            old[1][1].close()
        self._spares[origin] = (asyncio.get_running_loop().time(), task.result())

    def close(self) -> None:
        """Close what was made ahead (the streams' own connections close with them)."""
        for task in self._making.values():
            task.cancel()
            task.add_done_callback(_close_result)
        self._making.clear()
        for _, (_, writer) in self._spares.values():
            writer.close()
        self._spares.clear()


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
