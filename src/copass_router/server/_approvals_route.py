"""Deciding a hosted run's tool calls that wait for approval (the wire format: docs/hosted.md).

- ``GET /v1/runs/{run_id}/approvals``: the calls waiting now (a client that reconnects sees
  them here, and their ``approval_requested`` events again when it resumes the stream).
- ``POST /v1/runs/{run_id}/approvals/{call_id}`` ``{"approved": bool, "reason": "..."}``.

Both take the API key and ``end_user_id`` of the run, as resume and cancel do. Any worker
answers: with several workers (a shared coordinator) the one serving the request asks the
others, and the worker running the run lists or settles its waiting calls.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._errors import InvalidRequestError, RouterError
from copass_router.server._resume import _lookup
from copass_router.serving._payloads import read_json_object
from copass_router.serving._problems import problem, problem_for
from copass_router.tools._approvals import ApprovalDecision


async def list_approvals(request: Request) -> Response:
    """``GET /v1/runs/{run_id}/approvals``: the run's calls waiting for a decision."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, _, _ = found
    try:
        waiting = await state.router.waiting_approvals(run_id)
    except RouterError as exc:
        return problem_for(exc)
    pending = [
        {
            "call_id": r.call_id,
            "name": r.name,
            "arguments": dict(r.arguments),
            "session_id": r.session_id,
            "provider": r.provider,
        }
        for r in waiting
    ]
    return JSONResponse({"run_id": run_id, "pending": pending})


async def decide_approval(request: Request) -> Response:
    """``POST /v1/runs/{run_id}/approvals/{call_id}``: approve or deny one waiting call."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, _, _ = found
    call_id = request.path_params["call_id"]
    try:
        decision = await _decision(request)
        decided = await state.router.decide_approval(run_id, call_id, decision)
    except RouterError as exc:
        return problem_for(exc)
    if not decided:
        return problem(
            409,
            "approval_not_waiting",
            f"call {call_id!r} of run {run_id} is not waiting for approval: it was decided "
            "or timed out, or its run has ended",
            run_id=run_id,
        )
    return JSONResponse({"run_id": run_id, "call_id": call_id, "approved": decision.approved})


async def _decision(request: Request) -> ApprovalDecision:
    body = await read_json_object(request)
    approved, reason = body.get("approved"), body.get("reason", "")
    if not isinstance(approved, bool):
        raise InvalidRequestError("approved must be true or false", field="approved")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidRequestError(
            "reason must be a string of at most 2000 characters", field="reason"
        )
    return ApprovalDecision(approved, reason)


ROUTES = [
    Route("/v1/runs/{run_id}/approvals", list_approvals, methods=["GET"]),
    Route("/v1/runs/{run_id}/approvals/{call_id}", decide_approval, methods=["POST"]),
]
