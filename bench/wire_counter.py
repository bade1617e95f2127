"""A loopback TCP relay that counts round trips: a burst the client sends after the server's
last answer (pipelined messages sent together count once)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class RoundTripRelay:
    """Relays 127.0.0.1:<port> to the server a URL names; ``round_trips`` counts exchanges."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._url = parts
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._server: asyncio.Server | None = None
        self.round_trips = 0

    async def start(self) -> str:
        """Start relaying; returns the URL that goes through the relay."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        user = f"{self._url.username}@" if self._url.username else ""
        return urlunsplit(self._url._replace(netloc=f"{user}127.0.0.1:{port}"))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        waiting = [False]  # the client has spoken and the server not yet answered

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            while data := await src.read(65536):
                if up and not waiting[0]:
                    self.round_trips += 1
                waiting[0] = up
                dst.write(data)
                await dst.drain()
            dst.close()

        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))
