"""A loopback TCP proxy that cuts responses mid-stream, as a flaky network does: for testing
that a client resumes a hosted run (``RemoteRouter``, Last-Event-ID) with nothing lost.

Subclass :class:`CutProxy` and say, per connection, where it goes and after how many response
bytes it is cut (:meth:`CutProxy.route`). It also tells which requests each connection carried
(:meth:`CutProxy.requests`): what a client sends on a connection of its own, and what it pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import urlsplit

#: A request line (a JSON body cannot hold the raw CRLF that ends one).
_REQUEST_LINE = re.compile(rb"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP/1\.[01]\r\n")


class CutProxy:
    """Forwards ``127.0.0.1:port`` (a free port, see :attr:`url`) to the upstream port
    :meth:`route` picks for each connection, and cuts (aborts both sides of) the connection
    once the response has sent the number of bytes :meth:`route` gives (None: never).

    :attr:`connections` counts the connections made, :attr:`cut` those that were cut.

    :param upstream: a URL whose port takes every connection, uncut (a relay that only
        records the requests, :meth:`requests`); without it, subclasses give :meth:`route`.
    """

    def __init__(self, upstream: str | None = None) -> None:
        self._upstream = urlsplit(upstream).port or 80 if upstream is not None else None
        self.connections = 0
        self.cut = 0
        self._sent: list[bytearray] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[list[str]]:
        """Per connection, in the order they were made: the requests the client sent on it,
        each as ``"METHOD target"`` (a proxy's client sends the absolute URL as the target)."""
        return [
            [f"{m.decode()} {t.decode()}" for m, t in _REQUEST_LINE.findall(data)]
            for data in self._sent
        ]

    async def route(self, index: int) -> tuple[int, int | None]:
        """The upstream port of the ``index``-th connection (from 0) and the number of
        response bytes after which it is cut (None: never)."""
        if self._upstream is None:
            raise NotImplementedError("give CutProxy an upstream URL or override route")
        return self._upstream, None

    async def __aenter__(self) -> CutProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            with contextlib.suppress(asyncio.CancelledError):  # closing the proxy cancels us
                await self._relay(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        sent = bytearray()
        self._sent.append(sent)
        port, limit = await self.route(index)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.transport.abort()
            return
        ups = asyncio.ensure_future(_pump(reader, up_writer, None, sent))
        downs = asyncio.ensure_future(_pump(up_reader, writer, limit))
        try:
            await asyncio.wait({ups, downs}, return_when=asyncio.FIRST_COMPLETED)
            if downs.done() and not downs.cancelled() and downs.exception() is None:
                self.cut += downs.result()
        finally:
            for side in (ups, downs):
                side.cancel()
            for stream in (writer, up_writer):
                stream.transport.abort()
            with contextlib.suppress(BaseException):
                await asyncio.gather(ups, downs, return_exceptions=True)


async def _pump(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    limit: int | None,
    copy: bytearray | None = None,
) -> bool:
    """Copy until the end (False) or until ``limit`` bytes went through (True: cut); what
    went through is also added to ``copy``."""
    sent = 0
    while data := await source.read(65536):
        if copy is not None:
            copy += data
        if limit is not None and sent + len(data) >= limit:
            sink.write(data[: limit - sent])
            await sink.drain()
            return True
        sink.write(data)
        await sink.drain()
        sent += len(data)
    return False
