"""``POST /v1/dispatch``: deployed agents calling back to run a router tool.

The caller proves itself with the run-scoped token the router minted for the run (in the body's
``token`` or as ``Authorization: Bearer``), never with an API key. ``Router.handle_dispatch``
verifies it and runs the call through the run's own dispatcher, so the live run's stream shows
the ToolCall and ToolResult under the real tool name, and a repeated ``call_id`` gets the first
result without running the tool again.

An optional ``round`` in the body groups the calls one model response made (one tool round).
Past the run's ``max_tool_rounds`` the call is not run: the answer is an ``is_error`` result with
``end_turn: true``, the run ends with stop reason ``tool_limit``, and the agent should stop
calling its model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import DispatchAuthError, RouterError
from ..live_runs import ends_turn
from ..router import Router
from .auth import bearer_token
from .payloads import dispatch_call, read_json_object
from .problems import problem_for

DISPATCH_PATH = "/v1/dispatch"


def dispatch_endpoint(router: Router) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint serving ``router``'s dispatch callback."""

    async def dispatch(request: Request) -> Response:
        scope_log = request.scope.setdefault("copass.log", {})
        try:
            body = await read_json_object(request)
            call = dispatch_call(body, bearer_token(request.headers.get("authorization")))
            if not call.token:
                raise DispatchAuthError("a dispatch call needs the run's token")
            scope_log["tool"] = call.tool_name
            result = await router.handle_dispatch(
                call.token, call.tool_name, call.arguments, call.call_id, call.round_id
            )
        except RouterError as exc:
            return problem_for(exc)
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
