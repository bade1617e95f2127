"""A fake Acme Chat API for tests and offline work, built on the core's emulator kit.

Its model is the scripted model (``copass_router.testing.scripted_reply``). The kit logs every
request and applies the shared faults; this module only speaks Acme's wire format.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router import ChatMessage, GenerationSettings, ToolCallRequest
from copass_router.testing import (
    EmulatorKit,
    LoopbackServer,
    ModelReply,
    scripted_reply,
    serve_emulator,
)

#: The scripted model's neutral error codes as Acme names them.
KINDS = {"rate_limited": "quota", "overloaded": "busy", "invalid_request": "bad_request"}
_STATUS_KINDS = {429: "quota", 503: "busy", 400: "bad_request"}
_DONE = {"end_turn": "stop", "max_tokens": "length", "refusal": "refused"}


class AcmeEmulator:
    """The Acme Chat API: ``POST /v1/chat`` streams NDJSON. ``.faults``, ``.requests`` and
    ``.streams`` are the kit's."""

    def __init__(self) -> None:
        self.kit = EmulatorKit(self._render_error)
        self.faults, self.requests, self.streams = (
            self.kit.faults,
            self.kit.requests,
            self.kit.streams,
        )
        self.app = Starlette(
            routes=[Route("/v1/chat", self._chat, methods=["POST"])],
            middleware=[self.kit.middleware()],
        )
        self.base_url = ""

    def _render_error(self, status: int, message: str | None) -> Response:
        kind = _STATUS_KINDS.get(status, "error")
        return JSONResponse({"kind": kind, "message": message or f"acme says {status}"}, status)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        messages = [_neutral(m) for m in body.get("messages", [])]
        settings = GenerationSettings(body.get("temperature"), body.get("max_tokens"))
        reply = scripted_reply(messages, model=str(body.get("model")), settings=settings)
        return self.kit.event_stream(_lines(reply), media_type="application/x-ndjson")


def _neutral(m: dict[str, Any]) -> ChatMessage:
    calls = tuple(ToolCallRequest(c["id"], c["name"], c["args"]) for c in m.get("calls") or ())
    return ChatMessage(
        m["role"], m.get("text") or "", calls, call_id=m.get("call_id"), name=m.get("name")
    )


async def _lines(reply: ModelReply) -> AsyncIterator[str]:
    if reply.error_code:
        kind = KINDS.get(reply.error_code, reply.error_code)
        yield _line({"error": {"kind": kind, "message": reply.error_message}})
        return
    for piece in reply.chunks():
        if reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        yield _line({"text": piece})
    if reply.tool_calls:
        calls = [
            {"id": c.call_id, "name": c.name, "args": dict(c.arguments)} for c in reply.tool_calls
        ]
        yield _line({"calls": calls})
    yield _line({"usage": {"in": reply.input_tokens, "out": reply.output_tokens}})
    yield _line({"done": _DONE.get(reply.stop_reason.value, "stop")})


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj) + "\n"


@contextmanager
def running_emulator() -> Iterator[AcmeEmulator]:
    """An :class:`AcmeEmulator` on a free loopback port for the duration of the block."""
    emulator = AcmeEmulator()
    with LoopbackServer(emulator.app, name="acme-emulator") as server:
        emulator.base_url = server.base_url
        yield emulator


def serve(host: str, port: int) -> None:
    """``copass-router emulate acme``."""
    emulator = AcmeEmulator()
    serve_emulator(
        emulator.app,
        host,
        port,
        banner=lambda url: (
            f"Acme emulator on {url}\n  export ACME_BASE_URL={url} ACME_API_KEY=acme-key"
        ),
    )
