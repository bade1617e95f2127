"""An emulator of the OpenAI Chat Completions API, for tests and offline development.

The real ``openai`` SDK runs against it unchanged (``base_url="http://127.0.0.1:PORT/v1"``).
Its "model" is :func:`copass_router.testing.scripted_reply`: the messages the SDK sent become
neutral messages, the scripted model decides the reply, and the reply streams back as chunks the
way OpenAI frames them. Switches inject faults (an error status with ``retry-after``, a stream
cut mid-turn, a content filter) and every request is recorded so tests can assert what the
provider actually received. Run it with ``copass-router emulate openai``; in tests use
:func:`running_emulator`. The request log, the faults and the loopback server are the core's
emulator kit (``copass_router.testing.EmulatorKit``); this module only speaks OpenAI.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router.testing import (
    EmulatorKit,
    Faults,
    LoopbackServer,
    RecordedRequest,
    scripted_reply,
    serve_emulator,
)

from ._response_format import output_schema
from ._settings import generation_settings
from ._wire import ChunkRenderer, WireError, check_tools, to_chat_messages

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "llama3.2")
TOOL_CALL_STYLES = ("interleaved", "sequential", "whole")


class OpenAIFaults(Faults):
    """The kit's faults, plus OpenAI's content filter."""

    def __init__(self) -> None:
        super().__init__()
        self._filter_lock = threading.Lock()
        self._filters = 0

    def filter_next(self, count: int = 1) -> None:
        """End the next ``count`` completions with ``finish_reason="content_filter"``."""
        with self._filter_lock:
            self._filters += count

    def take_filter(self) -> bool:
        """Whether the completion about to be rendered is filtered (spends one)."""
        with self._filter_lock:
            filtered = self._filters > 0
            self._filters -= int(filtered)
            return filtered

    def clear(self) -> None:
        super().clear()
        with self._filter_lock:
            self._filters = 0


class OpenAIEmulator:
    """The emulated API: its state, fault switches and the Starlette app serving it.

    :param api_key: if set, requests must carry ``Authorization: Bearer <api_key>`` (401
        otherwise); if None any or no key is accepted, as local runtimes do.
    :param tool_call_style: ``interleaved``, ``sequential`` or ``whole`` (see
        :func:`~copass_router_openai.emulator._wire.tool_call_deltas`).
    :param argument_piece: characters of tool-call arguments per chunk.
    :param reasoning_field: the delta field reasoning streams in (``reasoning_content`` as vLLM
        and DeepSeek, ``reasoning`` as Ollama), or None to drop it as OpenAI does.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        tool_call_style: str = "interleaved",
        argument_piece: int = 4,
        reasoning_field: str | None = "reasoning_content",
    ) -> None:
        if tool_call_style not in TOOL_CALL_STYLES:
            raise ValueError(f"tool_call_style must be one of {TOOL_CALL_STYLES}")
        self.api_key = api_key
        self.models = tuple(models)
        self.tool_call_style = tool_call_style
        self.argument_piece = argument_piece
        self.reasoning_field = reasoning_field
        self._ids = itertools.count(1)
        #: The one fault API (``fail_next``, ``cut_stream``, ``hang``) plus ``filter_next``.
        self.faults = OpenAIFaults()
        self.kit = EmulatorKit(self._render_fault, faults=self.faults)
        #: Every request received, in order (secrets redacted).
        self.requests = self.kit.requests
        #: How the event streams ended (``completed``, ``cut``, ``abandoned``).
        self.streams = self.kit.streams
        #: ``http://127.0.0.1:PORT/v1`` once :func:`running_emulator` serves it.
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
            ],
            middleware=[self.kit.middleware()],
        )

    # --- what was received -------------------------------------------------------------------

    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received, in order (retries included)."""
        return self.requests.matching("/v1/chat/completions")

    def reset(self) -> None:
        """Forget recorded requests, pending faults and stream counters."""
        self.kit.reset()

    # --- routes -------------------------------------------------------------------------------

    @staticmethod
    async def _json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_emu_{next(self._ids)}"}

    def _error(self, error: WireError, extra: Mapping[str, str] | None = None) -> Response:
        headers = {**self._headers(), **(extra or {})}
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    def _unauthorized(self, request: Request) -> Response | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        # The real API echoes a masked key; the emulator never echoes it at all.
        return self._error(
            WireError(
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                status=401,
                code="invalid_api_key",
            )
        )

    async def _list_models(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        data = [_model(m) for m in self.models]
        return JSONResponse({"object": "list", "data": data}, headers=self._headers())

    async def _get_model(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        name = request.path_params["model"]
        if name not in self.models:
            return self._error(
                WireError(f"The model '{name}' does not exist", status=404, code="model_not_found")
            )
        return JSONResponse(_model(name), headers=self._headers())

    def _render_fault(self, status: int, message: str | None) -> Response:
        kind = (
            "requests"
            if status == 429
            else "server_error"
            if status >= 500
            else "invalid_request_error"
        )
        code = "rate_limit_exceeded" if status == 429 else None
        text = message or f"emulated {status} error"
        return self._error(WireError(text, status=status, type=kind, code=code))

    async def _chat_completions(self, request: Request) -> Response:
        body = await self._json(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        try:
            if not isinstance(body, dict) or not body.get("model"):
                raise WireError("you must provide a model parameter", param="model")
            messages = to_chat_messages(body.get("messages"))
            check_tools(body.get("tools"))
            settings = generation_settings(body)
            schema = output_schema(body, messages)
        except WireError as error:
            return self._error(error)
        reply = scripted_reply(
            messages, model=str(body["model"]), settings=settings, output_schema=schema
        )
        filtered = self.faults.take_filter()
        renderer = ChunkRenderer(
            completion_id=f"chatcmpl-emu{next(self._ids)}",
            model=str(body["model"]),
            created=int(time.time()),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        )
        if not body.get("stream"):
            if reply.error_code is not None:
                return self._error(
                    WireError(
                        reply.error_message, status=500, type="server_error", code=reply.error_code
                    )
                )
            completion = renderer.completion(reply, content_filter=filtered)
            return JSONResponse(completion, headers=self._headers())
        frames = renderer.reply_chunks(
            reply,
            tool_call_style=self.tool_call_style,
            argument_piece=self.argument_piece,
            reasoning_field=self.reasoning_field,
            content_filter=filtered,
        )
        headers = {**self._headers(), "cache-control": "no-cache"}
        return self.kit.event_stream(_sse(list(frames), reply.chunk_delay), headers=headers)


async def _sse(frames: list[dict[str, Any]], delay: float) -> AsyncIterator[bytes]:
    for n, frame in enumerate(frames):
        if delay and n:
            await asyncio.sleep(delay)
        yield f"data: {json.dumps(frame, separators=(',', ':'))}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "copass-emulator"}


@contextmanager
def running_emulator(**options: Any) -> Iterator[OpenAIEmulator]:
    """An :class:`OpenAIEmulator` (``options`` go to its constructor) served on a free loopback
    port for the duration of the block; its ``base_url`` ends in ``/v1``.

    >>> with running_emulator(api_key="sk-test") as emu:
    ...     client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="sk-test")
    """
    emulator = OpenAIEmulator(**options)
    with LoopbackServer(emulator.app, name="openai-emulator") as server:
        emulator.base_url = f"{server.base_url}/v1"
        yield emulator


def serve(host: str, port: int) -> None:
    """Run the emulator until interrupted (``copass-router emulate openai``; port 0: any free).

    Set ``COPASS_ROUTER_OPENAI_EMULATOR_KEY`` to make it demand that API key.
    """
    emulator = OpenAIEmulator(api_key=os.environ.get("COPASS_ROUTER_OPENAI_EMULATOR_KEY"))
    serve_emulator(emulator.app, host, port, banner=_banner)


def _banner(base_url: str) -> str:
    url = f"{base_url}/v1"
    return (
        f"OpenAI emulator on {url}\n  export OPENAI_BASE_URL={url} OPENAI_API_KEY=sk-emulator\n"
        f"  or     COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL={url}"
    )
