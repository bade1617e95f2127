"""Running an ASGI app under uvicorn inside the current event loop, on a socket we bind.

The dispatch callback must run in the loop that runs the turns (it hands tool results to live
runs), so the background servers here are tasks of the caller's loop, not threads. Binding the
socket ourselves makes port 0 work (the OS picks a free port we can report) and turns a taken
port into an ``OSError`` for the caller rather than uvicorn's ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import sys
from collections.abc import Awaitable, Callable, Generator, Sequence

import uvicorn
from starlette.types import ASGIApp

from copass_router.serving._connections import ConnectionLimits


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


KEEP_ALIVE_SECONDS = 75


def uvicorn_config(
    app: ASGIApp,
    *,
    graceful_timeout: float = 5,
    limits: ConnectionLimits | None = None,
    trusted_proxies: Sequence[str] = (),
) -> uvicorn.Config:
    """uvicorn settings for the router: no lifespan, no logging setup, no websockets.

    ``log_config=None`` keeps uvicorn from replacing the host's logging configuration; the
    router writes its own access log (uvicorn's would duplicate it). ``limits`` bound every
    connection (see :mod:`.connections`). Proxy headers (``X-Forwarded-For``...) are believed
    only from the ``trusted_proxies`` addresses; by default from nobody, so no client can claim
    another address (uvicorn's own default trusts loopback and its environment may say ``*``).
    """
    return uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        ws="none",
        timeout_graceful_shutdown=max(1, math.ceil(graceful_timeout)),
        # uvicorn's 5 s default equals httpx's keep-alive expiry: the server then closes an idle
        # connection just as the client reuses it (a reset before the response starts). Keep
        # idle connections well past any client's expiry instead.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        http=(limits or ConnectionLimits()).protocol(),
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
    )


class RouterServer(uvicorn.Server):
    """uvicorn's server that leaves signals alone and runs a step before shutting down.

    uvicorn would take over SIGINT/SIGTERM, which a background server inside a host application
    must never do; ``copass-router serve`` installs its own handlers instead.

    :param before_shutdown: awaited after the listening sockets close and before uvicorn
        closes connections, e.g. to let running turns finish.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        before_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in getattr(self, "servers", []):
            server.close()  # stop accepting first; uvicorn closes them again, harmlessly
        if self._before_shutdown is not None:
            await self._before_shutdown()
        await super().shutdown(sockets)


class RunningServer:
    """A server running in the background of this event loop.

    ``base_url`` is ``http://host:port``; ``url`` is the address to hand out (for the
    standalone dispatch server, the dispatch endpoint itself).
    """

    def __init__(self, server: RouterServer, task: asyncio.Task[None], base: str, url: str) -> None:
        self._server = server
        self._task = task
        self.base_url = base
        self.url = url

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    async def aclose(self) -> None:
        """Stop the server (gracefully, as uvicorn does) and wait until it has stopped."""
        self._server.should_exit = True
        await asyncio.wait({self._task})

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def start_server(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    path: str = "",
    before_shutdown: Callable[[], Awaitable[None]] | None = None,
    graceful_timeout: float = 5,
    limits: ConnectionLimits | None = None,
    trusted_proxies: Sequence[str] = (),
) -> RunningServer:
    """Serve ``app`` on ``host``:``port`` as a task of the running loop; return once it listens.

    ``path`` is appended to the base URL to form :attr:`RunningServer.url`; ``limits`` and
    ``trusted_proxies`` are as for :func:`uvicorn_config`.
    """
    sock = bind_socket(host, port)
    base = base_url(sock)
    config = uvicorn_config(
        app, graceful_timeout=graceful_timeout, limits=limits, trusted_proxies=trusted_proxies
    )
    server = RouterServer(config, before_shutdown=before_shutdown)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"copass-router {base}")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raises the startup failure
            raise RuntimeError(f"the server on {base} stopped during startup")
        await asyncio.sleep(0.005)
    return RunningServer(server, task, base, base + path)
