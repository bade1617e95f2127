"""The access log: one structlog line per request, with the run id, never a secret.

Handlers add what they know (run id, session id, key id, tool) to ``scope["copass.log"]``; the
line is written when the response has ended, so a streamed run is logged with its full length.
Query strings and headers are left out: they may carry end user ids and credentials.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copass_router._logs import get_logger

log = get_logger("copass_router.server.access")


class AccessLog:
    """ASGI middleware writing the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        fields: dict[str, Any] = scope.setdefault("copass.log", {})

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status or 500,
                ms=round((time.perf_counter() - started) * 1000, 1),
                client=client[0] if client else None,
                **{k: v for k, v in fields.items() if v is not None},
            )
