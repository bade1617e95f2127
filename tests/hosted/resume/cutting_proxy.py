"""A TCP proxy that cuts connections mid-response, as a flaky mobile network does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``; the n-th connection's response is cut
    (both sides aborted) after ``cuts[n]`` bytes; connections past the list pass untouched.
    With ``gate``, every connection after the first waits for it before going through; with
    ``then_port``, they go to that port (another worker behind the same address)."""

    def __init__(
        self,
        target_port: int,
        cuts: Sequence[int],
        gate: asyncio.Event | None = None,
        then_port: int | None = None,
    ) -> None:
        self.target_port = target_port
        self.then_port = then_port or target_port
        self.gate = gate
        self.cuts = list(cuts)
        self.connections = 0
        self.cut = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
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
        index = self.connections
        self.connections += 1
        limit = self.cuts[index] if index < len(self.cuts) else None
        if self.gate is not None and index > 0:
            await self.gate.wait()
        port = self.target_port if index == 0 else self.then_port
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        ups = asyncio.ensure_future(_pump(reader, up_writer, None))
        downs = asyncio.ensure_future(_pump(up_reader, writer, limit))
        try:
            await asyncio.wait({ups, downs}, return_when=asyncio.FIRST_COMPLETED)
            if downs.done() and downs.result():
                self.cut += 1
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
