"""A loopback TCP proxy that cuts connections at random points, as a flaky network does."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence


class RandomCutProxy:
    """Forwards 127.0.0.1:``port`` to one of ``ports`` (picked at random per connection).

    Each connection's response is cut (both sides aborted) with probability ``p`` after a
    random number of bytes from ``cut_range``.
    """

    def __init__(
        self, ports: Sequence[int], p: float, cut_range: tuple[int, int], seed: int = 0
    ) -> None:
        self.ports = list(ports)
        self.p = p
        self.cut_range = cut_range
        self.random = random.Random(seed)
        self.connections = 0
        self.cuts = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RandomCutProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # closing the proxy cancels us
            await self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        limit = self.random.randint(*self.cut_range) if self.random.random() < self.p else None
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.random.choice(self.ports)
            )
        except OSError:
            writer.transport.abort()
            self._tasks.discard(task)
            return
        ups = asyncio.ensure_future(_pump(reader, up_writer, None))
        downs = asyncio.ensure_future(_pump(up_reader, writer, limit))
        try:
            await asyncio.wait({ups, downs}, return_when=asyncio.FIRST_COMPLETED)
            if downs.done() and not downs.cancelled() and downs.exception() is None:
                self.cuts += downs.result()
        finally:
            for side in (ups, downs):
                side.cancel()
            for stream in (writer, up_writer):
                stream.transport.abort()
            with contextlib.suppress(BaseException):
                await asyncio.gather(ups, downs, return_exceptions=True)
            self._tasks.discard(task)


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
