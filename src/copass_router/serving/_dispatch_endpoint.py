"""``POST /v1/dispatch``: deployed agents calling back to run a router tool.

The caller proves itself with the run-scoped token the router minted for the run, never with an
API key. Sent as ``Authorization: Bearer <token>``, the token is checked before the body is read,
so an unauthenticated caller costs nothing; a token only in the body's ``token`` field is
accepted for a body of at most ``UNVERIFIED_BODY_BYTES`` (read under that limit, then checked).
``Router.handle_dispatch`` runs the call through the run's own dispatcher, so the live run's
stream shows the ToolCall and ToolResult under the real tool name, and a repeated ``call_id``
gets the first result without running the tool again.

An optional ``round`` in the body groups the calls one model response made (one tool round).
Past the run's ``max_tool_rounds`` the call is not run: the answer is an ``is_error`` result with
``end_turn: true``, the run ends with stop reason ``tool_limit``, and the agent should stop
calling its model.

W3C ``traceparent`` / ``tracestate`` headers on the call (the Google agent's proxy tool sends
back those its run handed it) reach event middleware on the call's ToolCall and ToolResult
(``provider_data["copass_router"]["trace_context"]``); a malformed one is ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from copass_router._errors import DispatchAuthError, RouterError
from copass_router._trace_context import trace_headers
from copass_router.run._live_runs import ends_turn
from copass_router.serving._auth import bearer_token
from copass_router.serving._payloads import MAX_BODY_BYTES, dispatch_call, read_json_object
from copass_router.serving._problems import problem_for

if TYPE_CHECKING:
    from copass_router.run._router import Router

DISPATCH_PATH = "/v1/dispatch"
UNVERIFIED_BODY_BYTES = 64 * 1024


def dispatch_endpoint(
    router: Router, max_body_bytes: int = MAX_BODY_BYTES
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint serving ``router``'s dispatch callback (bodies up to
    ``max_body_bytes``)."""

    async def dispatch(request: Request) -> Response:
        scope_log = request.scope.setdefault("copass.log", {})
        header_token = bearer_token(request.headers.get("authorization"))
        try:
            if header_token is not None:
                await router.verify_dispatch_token(header_token)
                limit = max_body_bytes
            else:
                limit = min(max_body_bytes, UNVERIFIED_BODY_BYTES)
            body = await read_json_object(request, limit)
            call = dispatch_call(body, header_token)
            if not call.token:
                raise DispatchAuthError("a dispatch call needs the run's token")
            scope_log["tool"] = call.tool_name
            result = await router.handle_dispatch(
                call.token,
                call.tool_name,
                call.arguments,
                call.call_id,
                call.round_id,
                trace_headers(request.headers),
            )
        except RouterError as exc:
            return problem_for(exc)
        except asyncio.CancelledError:
            # A retried call waiting on the first attempt, whose run ended meanwhile.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request itself is being cancelled
            return problem_for(DispatchAuthError("the run ended during the call", forbidden=True))
        scope_log["run_id"] = result.run_id or None
        answer = {
            "call_id": result.call_id,
            "tool_name": result.name,
            "output": result.output,
            "is_error": result.is_error,
        }
        if ends_turn(result):
            answer["end_turn"] = True
        return JSONResponse(answer)

    return dispatch
