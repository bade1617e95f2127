"""An emulator of the OpenAI Chat Completions API, for tests and offline development.

The real ``openai`` SDK runs against it unchanged (``base_url="http://127.0.0.1:PORT/v1"``).
Its "model" is :func:`copass_router.testing.scripted_reply`: the messages the SDK sent become
neutral messages, the scripted model decides the reply, and the reply streams back as chunks the
way OpenAI frames them. Switches inject faults (an error status with ``retry-after``, a stream
cut mid-turn, a content filter) and every request is recorded so tests can assert what the
provider actually received. Run it with ``copass-router emulate openai``; in tests use
:func:`copass_router_openai.emulator_harness.running_emulator`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from copass_router.testing import scripted_reply

from .emulator_wire import ChunkRenderer, WireError, check_tools, to_chat_messages

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "llama3.2")
TOOL_CALL_STYLES = ("interleaved", "sequential", "whole")


@attrs.frozen
class RecordedRequest:
    """One request the emulator received. ``headers`` keys are lower case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


@attrs.frozen
class Fault:
    """An error response the emulator gives instead of serving a request."""

    status: int
    message: str
    type: str
    code: str | None
    retry_after: str | None


@attrs.frozen
class StreamCut:
    """Cut the next stream after ``after`` frames: ``drop`` the connection or end it (``eof``)."""

    after: int
    mode: str


class _CutConnection(Exception):
    """Raised inside a streaming body so the server drops the connection mid-response."""


class OpenAIEmulator:
    """The emulated API: its state, fault switches and the Starlette app serving it.

    :param api_key: if set, requests must carry ``Authorization: Bearer <api_key>`` (401
        otherwise); if None any or no key is accepted, as local runtimes do.
    :param tool_call_style: ``interleaved``, ``sequential`` or ``whole`` (see
        :func:`~copass_router_openai.emulator_wire.tool_call_deltas`).
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
        self.streams_completed = 0
        self.streams_aborted = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._cuts: deque[StreamCut] = deque()
        self._filters = 0
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
            ]
        )

    # --- fault switches -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 429,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next ``times`` chat requests with ``status`` (and ``retry-after``)."""
        kind = (
            "requests"
            if status == 429
            else "server_error"
            if status >= 500
            else "invalid_request_error"
        )
        fault = Fault(
            status=status,
            message=message or f"emulated {status} error",
            type=kind,
            code=code or ("rate_limit_exceeded" if status == 429 else None),
            retry_after=None if retry_after is None else f"{retry_after:g}",
        )
        with self._lock:
            self._faults.extend([fault] * times)

    def cut_next_stream(self, *, after: int = 3, mode: str = "drop") -> None:
        """Cut the next stream after ``after`` frames, by dropping the connection or by ending
        the body cleanly without ``[DONE]`` (``mode="eof"``, as a proxy timing out does)."""
        if mode not in ("drop", "eof"):
            raise ValueError("mode must be 'drop' or 'eof'")
        with self._lock:
            self._cuts.append(StreamCut(after=after, mode=mode))

    def filter_next(self, times: int = 1) -> None:
        """End the next ``times`` completions with ``finish_reason="content_filter"``."""
        with self._lock:
            self._filters += times

    # --- what was received --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received, in order (retries included)."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def reset(self) -> None:
        """Forget recorded requests, pending faults and counters."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._cuts.clear()
            self._filters = 0
            self.streams_completed = self.streams_aborted = 0

    # --- routes -------------------------------------------------------------------------------

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.url.path, headers, body))
        return body

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
        await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        data = [_model(m) for m in self.models]
        return JSONResponse({"object": "list", "data": data}, headers=self._headers())

    async def _get_model(self, request: Request) -> Response:
        await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        name = request.path_params["model"]
        if name not in self.models:
            return self._error(
                WireError(f"The model '{name}' does not exist", status=404, code="model_not_found")
            )
        return JSONResponse(_model(name), headers=self._headers())

    def _take_fault(self) -> tuple[Fault | None, StreamCut | None, bool]:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                return fault, None, False
            cut = self._cuts.popleft() if self._cuts else None
            filtered = self._filters > 0
            self._filters -= int(filtered)
            return None, cut, filtered

    async def _chat_completions(self, request: Request) -> Response:
        body = await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        fault, cut, filtered = self._take_fault()
        if fault is not None:
            extra = {"retry-after": fault.retry_after} if fault.retry_after else {}
            error = WireError(fault.message, status=fault.status, type=fault.type, code=fault.code)
            return self._error(error, extra)
        try:
            if not isinstance(body, dict) or not body.get("model"):
                raise WireError("you must provide a model parameter", param="model")
            messages = to_chat_messages(body.get("messages"))
            check_tools(body.get("tools"))
        except WireError as error:
            return self._error(error)
        reply = scripted_reply(messages, model=str(body["model"]))
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
        stream = self._sse(list(frames), reply.chunk_delay, cut)
        headers = {**self._headers(), "cache-control": "no-cache"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def _sse(
        self, frames: list[dict[str, Any]], delay: float, cut: StreamCut | None
    ) -> AsyncIterator[bytes]:
        finished = False
        try:
            for n, frame in enumerate(frames):
                if cut is not None and n == cut.after:
                    if cut.mode == "drop":
                        raise _CutConnection("emulated connection drop")
                    finished = True
                    return
                if delay and n:
                    await asyncio.sleep(delay)
                yield f"data: {json.dumps(frame, separators=(',', ':'))}\n\n".encode()
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            with self._lock:
                if finished:
                    self.streams_completed += 1
                else:
                    self.streams_aborted += 1


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "copass-emulator"}


def serve(host: str, port: int) -> None:
    """Run the emulator until interrupted (``copass-router emulate openai``; port 0: any free).

    Set ``COPASS_ROUTER_OPENAI_EMULATOR_KEY`` to make it demand that API key.
    """
    import os
    import socket

    import uvicorn

    emulator = OpenAIEmulator(api_key=os.environ.get("COPASS_ROUTER_OPENAI_EMULATOR_KEY"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}/v1"
    print(
        f"OpenAI emulator on {url}\n  export OPENAI_BASE_URL={url} OPENAI_API_KEY=sk-emulator\n"
        f"  or     COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL={url}",
        flush=True,
    )
    uvicorn.Server(uvicorn.Config(emulator.app, log_level="info")).run(sockets=[sock])
