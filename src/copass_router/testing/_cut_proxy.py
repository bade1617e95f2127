"""A loopback TCP proxy that cuts responses mid-stream, as a flaky network does: for testing
that a client resumes a hosted run (``RemoteRouter``, Last-Event-ID) with nothing lost.

Subclass :class:`CutProxy` and say, per connection, where it goes and after how many response
bytes it is cut (:meth:`CutProxy.route`).
"""

from __future__ import annotations

import asyncio
import contextlib


class CutProxy:
    """Forwards ``127.0.0.1:port`` (a free port, see :attr:`url`) to the upstream port
    :meth:`route` picks for each connection, and cuts (aborts both sides of) the connection
    once the response has sent the number of bytes :meth:`route` gives (None: never).

    :attr:`connections` counts the connections made, :attr:`cut` those that were cut.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.cut = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def route(self, index: int) -> tuple[int, int | None]:
        """The upstream port of the ``index``-th connection (from 0) and the number of
        response bytes after which it is cut (None: never)."""
        raise NotImplementedError

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
        port, limit = await self.route(index)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.transport.abort()
            return
        ups = asyncio.ensure_future(_pump(reader, up_writer, None))
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
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, limit: int | None
) -> bool:
    """Copy until the end (False) or until ``limit`` bytes went through (True: cut)."""
    sent = 0
    while data := await source.read(65536):
        if limit is not None and sent + len(data) >= limit:
            sink.write(data[: limit - sent])
            await sink.drain()
            return True
        sink.write(data)
        await sink.drain()
        sent += len(data)
    return False
