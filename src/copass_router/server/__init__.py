"""Hosted mode: the router as a service (Starlette + uvicorn, the ``server`` extra).

- :func:`create_app`: the ASGI app, to serve or to mount inside a host's Starlette/FastAPI app.
- :func:`serve`: ``copass-router serve`` (API keys, graceful shutdown).
- :func:`start_dispatch_server`: only the tool dispatch callback, beside an in-process Router.
- :func:`start_server`: serve any of these apps in the background of the running event loop.

The wire format is described in docs/hosted.md.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "hosted mode needs the server extra: pip install 'copass-router[server]'"
    ) from exc

from copass_router.server._admission import RunLimits
from copass_router.server._app import HostedState, create_app
from copass_router.server._serve import serve
from copass_router.serving._auth import ApiKeys
from copass_router.serving._connections import ConnectionLimits
from copass_router.serving._dispatch_server import create_dispatch_app, start_dispatch_server
from copass_router.serving._listener import RunningServer, start_server

__all__ = [
    "ApiKeys",
    "ConnectionLimits",
    "HostedState",
    "RunLimits",
    "RunningServer",
    "create_app",
    "create_dispatch_app",
    "serve",
    "start_dispatch_server",
    "start_server",
]
