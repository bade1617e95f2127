"""The dispatch callback endpoint alone, for hosts that use the in-process Router.

``Router.start_dispatch_server`` calls :func:`start_dispatch_server`: a small uvicorn server in
the background of the host's event loop that serves ``POST /v1/dispatch`` (and ``/healthz``)
and nothing else, so deployed agents can run the router's tools without the full hosted service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router.serving._access_log import AccessLog
from copass_router.serving._dispatch_endpoint import DISPATCH_PATH, dispatch_endpoint
from copass_router.serving._listener import RunningServer, start_server
from copass_router.serving._problems import http_exception_handler, internal_error_handler

if TYPE_CHECKING:
    from copass_router.run._router import Router


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process answers."""
    return JSONResponse({"status": "ok"})


def create_dispatch_app(router: Router) -> Starlette:
    """An app with only ``POST /v1/dispatch`` and ``GET /healthz``."""
    return Starlette(
        routes=[
            Route(DISPATCH_PATH, dispatch_endpoint(router), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        middleware=[Middleware(AccessLog)],
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
    )


async def start_dispatch_server(
    router: Router, host: str = "127.0.0.1", port: int = 0
) -> RunningServer:
    """Serve ``router``'s dispatch endpoint in the background of the running event loop.

    Returns the running server: ``.url`` is the dispatch endpoint's URL (what deployed agents
    call), ``await .aclose()`` stops it. Port 0 picks a free port.
    """
    app = create_dispatch_app(router)
    return await start_server(app, host, port, path=DISPATCH_PATH)
