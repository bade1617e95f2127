"""An emulator of the Vertex AI Agent Engine REST surface the google client libraries use.

Routes (``v1beta1`` and ``v1``; the SDK's default is ``v1beta1``)::

    POST {parent}/reasoningEngines                 create (a long-running operation)
    GET  {parent}/reasoningEngines/{id}/operations/{op}
    GET  {name}                                    the engine, with spec.classMethods
    DELETE {name}
    POST {name}:query                              {classMethod, input} -> {output}
    POST {name}:streamQuery?alt=sse                SSE ``data: <ADK event JSON>`` frames

Errors use Google's body ``{"error": {"code", "message", "status"}}``; a mid-stream failure is
an ``data: {"error": {...}}`` frame, which the SDK raises as ``APIError``. Behind it run real
ADK apps (see :mod:`._engines`). The request log, the shared faults and the loopback
server are the core's emulator kit (``copass_router.testing.EmulatorKit``). Tests use
:func:`running_emulator`; the CLI uses :func:`serve` (``copass-router emulate google --port N``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router.testing import EmulatorKit, LoopbackServer, RecordedRequest, serve_emulator

from ..agent_app import DEFAULT_MODEL
from ..contract import contract_env
from ..deploy import CLASS_METHODS
from ..proxy_tool import DISPATCH_URL_ENV
from ._engines import Engine, EngineError, EngineHost
from ._faults import GoogleFaults
from ._model import ModelCall

_PARENT = r"projects/[^/]+/locations/[^/]+"
_ENGINE = _PARENT + r"/reasoningEngines/[^/:]+"
_PATTERNS = (
    ("create", "POST", re.compile(rf"^({_PARENT})/reasoningEngines$")),
    ("operation", "GET", re.compile(rf"^({_ENGINE})/operations/([^/]+)$")),
    ("query", "POST", re.compile(rf"^({_ENGINE}):query$")),
    ("stream", "POST", re.compile(rf"^({_ENGINE}):streamQuery$")),
    ("get", "GET", re.compile(rf"^({_ENGINE})$")),
    ("delete", "DELETE", re.compile(rf"^({_ENGINE})$")),
)
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    """Google's error envelope."""
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS.get(code, "UNKNOWN"),
        }
    }


def _error(code: int, message: str, status: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, status), status_code=code)


_FAULT_TEXT = {
    429: "Quota exceeded for aiplatform.googleapis.com/reasoning_engine_requests.",
    503: "The service is currently unavailable.",
}


def _fault(code: int, message: str | None) -> JSONResponse:
    return _error(code, message or _FAULT_TEXT.get(code, "Internal error encountered."))


class GoogleEmulator:
    """The emulator's state: engines, operations, the request log and the fault switches."""

    def __init__(self) -> None:
        self.host = EngineHost()
        #: The kit's ``fail_next``, ``cut_stream``, ``hang``, plus ``error_event`` and
        #: ``operation_polls``; match a kind of request with ``path="*:streamQuery"``...
        self.faults = GoogleFaults()
        self.kit = EmulatorKit(_fault, faults=self.faults)
        #: Every request received, in order (secrets redacted).
        self.requests = self.kit.requests
        #: How the event streams ended (``opened``, ``completed``, ``cut``, ``abandoned``).
        self.streams = self.kit.streams
        self.operations: dict[str, dict[str, Any]] = {}
        self.base_url = ""
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE"])],
            middleware=[self.kit.middleware()],
        )

    # -- helpers for tests and users ------------------------------------------------------

    @property
    def engines(self) -> dict[str, Engine]:
        """Deployed engines by resource name."""
        return self.host.engines

    def add_engine(
        self,
        *,
        display_name: str = "test-agent",
        system_prompt: str = "You are a helpful agent.",
        dispatch_url: str | None = None,
        project: str = "emulated-project",
        location: str = "us-central1",
        env: Mapping[str, str] | None = None,
        model: str = DEFAULT_MODEL,
        legacy: bool = False,
    ) -> str:
        """Register a deployed agent without a create request; returns its resource name.

        ``legacy=True`` registers the agent an older version of this plugin deployed: system
        prompt and model fixed at deploy time, no contract marker.
        """
        name = self.host.new_name(f"projects/{project}/locations/{location}")
        environment = dict(env or {})
        if dispatch_url:
            environment[DISPATCH_URL_ENV] = dispatch_url
        if not legacy:
            environment.update(contract_env(model))
        self.host.add(
            name,
            display_name=display_name,
            system_prompt=system_prompt,
            env=environment,
            class_methods=[dict(m) for m in CLASS_METHODS],
            model=model,
            legacy=legacy,
        )
        return name

    def model_calls(self, name: str) -> list[ModelCall]:
        """Every call the engine ``name``'s agent made to its model: the model name ADK asked
        for and the system instruction it sent, oldest first."""
        return list(self.host.get(name).model.calls)

    def requests_to(self, kind: str) -> list[RecordedRequest]:
        """Logged requests of one kind: create, operation, get, delete, query, stream."""
        return [r for r in self.requests if kind_of(r) == kind]

    def reset(self) -> None:
        """Forget the request log, stream counters, model calls and pending faults (engines
        stay)."""
        self.kit.reset()
        for engine in self.host.engines.values():
            engine.model.calls.clear()

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        path = request.url.path.lstrip("/")
        version, _, rest = path.partition("/")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        kind, match = _route(request.method, rest)
        if version not in ("v1", "v1beta1") or match is None:
            return _error(404, f"no route for {request.method} /{path}")
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "Request is missing required authentication credential.")
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON payload received.")
        try:
            return await self._dispatch(kind, match, body, request)
        except EngineError as exc:
            return _error(exc.code, exc.message, exc.status)

    async def _dispatch(
        self, kind: str, match: re.Match[str], body: dict[str, Any], request: Request
    ) -> Response:
        if kind == "create":
            return self._create(match.group(1), body)
        if kind == "operation":
            return self._operation(f"{match.group(1)}/operations/{match.group(2)}")
        engine = self.host.get(match.group(1))
        if kind == "get":
            return JSONResponse(engine.resource())
        if kind == "delete":
            del self.host.engines[engine.name]
            return JSONResponse({"name": f"{engine.name}/operations/delete", "done": True})
        method, payload = self._method_call(body)
        if kind == "query":
            output = await self.host.query(engine, method, payload)
            return JSONResponse({"output": output})
        if request.query_params.get("alt") != "sse":
            return _error(400, "streamQuery is served with alt=sse only")
        self.host.check_stream(engine, method, payload)
        return self.kit.event_stream(self._sse(engine, method, payload))

    @staticmethod
    def _method_call(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        method = body.get("classMethod") or body.get("class_method")
        payload = body.get("input") or {}
        if not isinstance(method, str) or not isinstance(payload, dict):
            raise EngineError(400, "INVALID_ARGUMENT", "classMethod and input are required")
        return method, payload

    def _create(self, parent: str, body: dict[str, Any]) -> Response:
        name = self.host.new_name(parent)
        self.host.create(name, body)
        operation = f"{name}/operations/{len(self.operations) + 1}"
        self.operations[operation] = {"engine": name, "polls_left": self.faults.operation_polls}
        return JSONResponse(self._operation_body(operation, done=False))

    def _operation(self, operation: str) -> Response:
        state = self.operations.get(operation)
        if state is None:
            return _error(404, f"Operation {operation} not found.")
        if state["polls_left"] > 0:
            state["polls_left"] -= 1
            return JSONResponse(self._operation_body(operation, done=False))
        return JSONResponse(self._operation_body(operation, done=True))

    def _operation_body(self, operation: str, *, done: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": operation,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1beta1."
                "CreateReasoningEngineOperationMetadata",
                "genericMetadata": {"createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ")},
            },
            "done": done,
        }
        if done:
            engine = self.host.engines[self.operations[operation]["engine"]]
            body["response"] = {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1beta1.ReasoningEngine",
                **engine.resource(),
            }
        return body

    async def _sse(
        self, engine: Engine, method: str, payload: dict[str, Any]
    ) -> AsyncIterator[str]:
        planned = self.faults.take_error_event()
        sent = 0
        events = self.host.stream(engine, method, payload)
        try:
            async for event in events:
                if planned is not None and sent >= planned.after_events:
                    yield _frame(error_body(planned.status, planned.message))
                    return
                yield _frame(event)
                sent += 1
        except EngineError as exc:
            yield _frame(error_body(exc.code, exc.message, exc.status))
        except Exception as exc:  # the agent crashed mid-turn: the service reports it in-band
            yield _frame(error_body(500, f"Reasoning Engine Execution failed: {exc!r}"))
        finally:
            # Stop the ADK run even while this task is being cancelled.
            with anyio.CancelScope(shield=True):
                await events.aclose()


def _route(method: str, rest: str) -> tuple[str, re.Match[str] | None]:
    for kind, verb, pattern in _PATTERNS:
        match = pattern.match(rest)
        if match and verb == method:
            return kind, match
    return "unknown", None


def kind_of(request: RecordedRequest) -> str:
    """The kind of a logged request: create, operation, get, delete, query, stream or unknown."""
    rest = request.path.lstrip("/").partition("/")[2]
    return _route(request.method, rest)[0]


def _frame(data: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


# -- running it ------------------------------------------------------------------------------


@contextmanager
def running_emulator(host: str = "127.0.0.1", port: int = 0) -> Iterator[GoogleEmulator]:
    """Start the emulator on a loopback port in a background thread; yields its state.

    ``.base_url`` is what ``http_options={"base_url": ...}`` (or
    ``COPASS_ROUTER_GOOGLE_BASE_URL``) takes; ``.requests`` logs what the SDK sent.
    """
    emulator = GoogleEmulator()
    try:
        with LoopbackServer(emulator.app, host=host, port=port, name="google-emulator") as server:
            emulator.base_url = server.base_url
            yield emulator
    finally:
        emulator.host.close()


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Run the emulator in the foreground until interrupted (``copass-router emulate google``).

    Port 0 picks a free port; the address is printed first.
    """
    emulator = GoogleEmulator()
    try:
        serve_emulator(emulator.app, host, port, banner=_banner)
    finally:
        emulator.host.close()


def _banner(url: str) -> str:
    return (
        f"google emulator on {url}\n"
        f"  export COPASS_ROUTER_GOOGLE_BASE_URL={url}\n"
        "  export COPASS_ROUTER_GOOGLE_ACCESS_TOKEN=anything"
    )
