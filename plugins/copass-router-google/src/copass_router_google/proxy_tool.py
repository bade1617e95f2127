"""``copass_dispatch``: the one tool a deployed ADK agent carries; it runs real tools in the router.

This module runs on the agent's side (the Agent Engine runtime, or the emulator), never in the
router. The model calls ``copass_dispatch(tool_name, arguments)``; the tool POSTs
``{"token", "tool_name", "arguments", "call_id"}`` to the router's dispatch endpoint and hands the
router's answer back to the model.

- The endpoint URL comes from the engine's environment (``COPASS_ROUTER_DISPATCH_URL``, set at
  deploy time). The run-scoped token comes from the state the run passes
  (``temp:copass_dispatch_token``, or ``copass_dispatch_token`` from an older router); no other
  secret exists on this side.
- One HTTP client per process. A transient failure (connection error, 408/429/5xx) is retried
  with the same call id, so the router can recognise a repeat.
- When the run handed the agent its W3C trace context (``temp:copass_trace_context``), the
  call carries it back as ``traceparent`` / ``tracestate`` headers, so the router's span of the
  real tool joins the run's trace. A malformed value is left out, never an error.
- Failures come back to the model as data (``is_error: true``); nothing is raised into ADK.
- Each call names its ``round``: the ADK event (one model response) that asked for it, so the
  router counts parallel calls as one tool round. When the router answers ``end_turn`` (the
  run's tool-round cap is spent) the tool tells ADK not to call the model again.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
from google.adk.tools.tool_context import ToolContext

from .contract import TEMP_TOKEN_STATE_KEY, TOKEN_STATE_KEY, TRACE_STATE_KEY, trace_headers

DISPATCH_URL_ENV = "COPASS_ROUTER_DISPATCH_URL"

#: The environment of the engine the current call runs in. An Agent Engine runtime hosts one
#: engine per process, so this stays unset there and ``os.environ`` is used; the emulator hosts
#: several engines in one process and sets it per query.
runtime_environ: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "copass_runtime_environ", default=None
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 4
BACKOFF_SECONDS = 0.25
REQUEST_TIMEOUT = httpx.Timeout(300.0, connect=10.0)

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """The process's one HTTP client (thread-safe; tools run on worker threads)."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(timeout=REQUEST_TIMEOUT)
        return _client


def dispatch_url() -> str | None:
    """The router's dispatch endpoint for the engine this call runs in."""
    environ = runtime_environ.get()
    if environ is None:
        environ = os.environ
    return environ.get(DISPATCH_URL_ENV) or None


async def copass_dispatch(
    tool_name: str, arguments: dict[str, Any], tool_context: ToolContext
) -> dict[str, Any]:
    """Run one of the tools listed in your instructions and return its result.

    Args:
      tool_name: The tool's exact name, as listed in your instructions.
      arguments: The tool's arguments, a JSON object matching the tool's parameters.

    Returns:
      A dict with the tool's ``output`` (text) and ``is_error``.
    """
    token = tool_context.state.get(TEMP_TOKEN_STATE_KEY) or tool_context.state.get(TOKEN_STATE_KEY)
    call_id = tool_context.function_call_id or ""
    # The blocking client runs on a worker thread: the process's one client serves every event
    # loop the runtime may use (AdkApp's sync methods run their own loops on threads).
    result = await asyncio.to_thread(
        dispatch_call,
        url=dispatch_url(),
        token=token if isinstance(token, str) else None,
        tool_name=tool_name,
        arguments=arguments,
        call_id=call_id,
        round_id=_round_of(tool_context, call_id),
        trace=trace_headers(tool_context.state.get(TRACE_STATE_KEY)),
    )
    if result.pop("end_turn", False):
        # The router ended the turn: the function response is final, no model call follows.
        tool_context.actions.skip_summarization = True
    return result


def _round_of(tool_context: ToolContext, call_id: str) -> str | None:
    """The id of the model-response event that asked for ``call_id`` (shared by the calls one
    response made in parallel), or None if the session does not show it."""
    if not call_id:
        return None
    for event in reversed(tool_context.session.events):
        parts = event.content.parts if event.content else None
        if any(p.function_call and p.function_call.id == call_id for p in parts or ()):
            return event.id or None
    return None


def dispatch_call(
    *,
    url: str | None,
    token: str | None,
    tool_name: str,
    arguments: Mapping[str, Any] | None,
    call_id: str,
    round_id: str | None = None,
    trace: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
) -> dict[str, Any]:
    """POST one tool call to the router and return the model-facing result (never raises).

    ``trace``: W3C trace headers to send with it (see :func:`~.contract.trace_headers`).
    """
    if not url:
        return _error(tool_name, f"copass_dispatch is not configured: {DISPATCH_URL_ENV} is unset")
    if not token:
        return _error(tool_name, "copass_dispatch has no dispatch token for this run")
    if not isinstance(arguments, Mapping):
        return _error(tool_name, "arguments must be a JSON object")
    body = {
        "token": token,
        "tool_name": tool_name,
        "arguments": dict(arguments),
        "call_id": call_id,
    }
    if round_id:
        body["round"] = round_id
    # The token also as a header: the router checks it before reading the body.
    headers = {**trace_headers(trace), "Authorization": f"Bearer {token}"}
    http = client or shared_client()
    problem = "no attempt made"
    for attempt in range(max(1, max_attempts)):
        if attempt:
            # Jittered exponential backoff; the same call id is sent again on purpose.
            time.sleep(backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
        try:
            response = http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            problem = f"the router could not be reached ({type(exc).__name__})"
            continue
        if response.status_code in RETRY_STATUSES:
            problem = f"the router answered HTTP {response.status_code}"
            continue
        return _result(tool_name, response)
    return _error(tool_name, f"{problem}; gave up after {max(1, max_attempts)} attempts")


def _result(tool_name: str, response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code in (401, 403):
        return _error(tool_name, f"the router refused the call: {_message(payload, response)}")
    if response.is_error or not isinstance(payload, Mapping):
        return _error(
            tool_name,
            f"the router answered HTTP {response.status_code}: {_message(payload, response)}",
        )
    output = payload.get("output", payload.get("result", ""))
    result: dict[str, Any] = {
        "tool_name": tool_name,
        "output": output if isinstance(output, str) else str(output),
        "is_error": bool(payload.get("is_error", False)),
    }
    if payload.get("end_turn") is True:
        result["end_turn"] = True
    return result


def _message(payload: Any, response: httpx.Response) -> str:
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message") or error)
        if error:
            return str(error)
        for key in ("detail", "message", "title"):  # RFC 9457 problems, then others
            if payload.get(key):
                return str(payload[key])
    return response.reason_phrase or "no detail"


def _error(tool_name: str, message: str) -> dict[str, Any]:
    return {"tool_name": tool_name, "output": message, "is_error": True}
