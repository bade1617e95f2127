"""Resuming and cancelling a hosted run by its id (the wire format is in docs/hosted.md).

- ``GET /v1/runs/{run_id}/events``: the run's frames after ``Last-Event-ID`` (or ``?after=``),
  then the live ones until ``run_finished``; from any worker that shares the run log.
- ``POST /v1/runs/{run_id}/cancel``: cancel the run on whichever worker runs it.

Both take the API key and ``end_user_id`` of the run: another tenant or end user gets the same
404 as a run that never existed. A log past its retention is 410.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._logs import get_logger, scrub
from copass_router.server._admission import TooManyRunsError
from copass_router.server._hosted_run import follow_frames
from copass_router.server._run_log import LogInfo
from copass_router.server._sse import SSEResponse
from copass_router.serving._problems import problem, problem_for

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.server")

_MAX_SEQ = 2**53


def _after(request: Request) -> int | Response:
    """The last seq the client has: ``Last-Event-ID`` first, then ``?after=`` (-1: none)."""
    raw = request.headers.get("last-event-id")
    name = "Last-Event-ID"
    if raw is None:
        raw, name = request.query_params.get("after"), "after"
    if raw is None or raw.strip() == "":
        return -1
    value = raw.strip().rpartition(":")[2]  # also the older "<run_id>:<seq>" form
    # isdigit() alone takes "²" and "٣", and int() of 5,000 digits raises: ASCII, short, first.
    if not (value.isascii() and value.isdigit() and len(value) <= 16) or int(value) > _MAX_SEQ:
        return problem(
            400,
            "invalid_request",
            f"{name} must be the seq (a whole number) of the last event you received",
            field=name,
        )
    return int(value)


async def _lookup(request: Request) -> tuple[HostedState, str, LogInfo, str | None] | Response:
    """The run the request names, if its caller may see it (else the problem to answer)."""
    state: HostedState = request.app.state.copass_router
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    run_id = request.path_params["run_id"]
    end_user = principal.scope(request.query_params.get("end_user_id") or "local")
    try:
        info = await state.hosted.log.info(run_id)
    except Exception as exc:  # e.g. Redis unreachable
        log.warning("run_log_unavailable", run_id=run_id, error=scrub(repr(exc)))
        return problem(
            503,
            "run_log_unavailable",
            "the runs' event log (COPASS_ROUTER_COORDINATOR) could not be reached; retry shortly",
            run_id=run_id,
        )
    if info is None or info.owner != end_user:
        return problem(
            404,
            "run_not_found",
            f"no run {run_id!r} for this end user (pass the run's end_user_id as a query "
            "parameter)",
            run_id=run_id,
        )
    request.scope.setdefault("copass.log", {})["run_id"] = run_id
    return state, run_id, info, principal.key_id


async def run_events(request: Request) -> Response:
    """``GET /v1/runs/{run_id}/events``: replay what the client missed, then follow live."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, info, key_id = found
    after = _after(request)
    if isinstance(after, Response):
        return after
    limits = state.hosted.log.limits
    if info.expired:
        return problem(
            410,
            "run_log_expired",
            f"the events of run {run_id} are no longer kept: a run's log is kept "
            f"{limits.retention:g} s after the run ends (COPASS_ROUTER_RUN_LOG_RETENTION; "
            "less on a worker whose logs pass COPASS_ROUTER_RUN_LOG_MAX_TOTAL_BYTES); "
            "the session's transcript (GET /v1/sessions/{id}) has the turn",
            run_id=run_id,
        )
    if after < info.trimmed:
        return problem(
            410,
            "run_log_trimmed",
            f"events of run {run_id} after seq {after} are no longer kept: a run's log keeps "
            f"its last {limits.max_events} events and {limits.max_bytes} bytes; the session's "
            "transcript has the turn",
            run_id=run_id,
        )

    try:
        state.readers.acquire(run_id, key_id)
    except TooManyRunsError as exc:
        return problem_for(exc)

    async def on_close(disconnected: bool) -> None:
        # The run goes on: only the connection that started it has a policy.
        state.readers.release(run_id, key_id)

    return SSEResponse(
        follow_frames(state.hosted.log, run_id, after, state.heartbeat),
        on_close=on_close,
        headers={"X-Copass-Run-Id": run_id},
    )


async def cancel_run(request: Request) -> Response:
    """``POST /v1/runs/{run_id}/cancel``: 202 while it is cancelled, 200 if it had ended."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, info, _ = found
    if not info.running:
        return JSONResponse({"run_id": run_id, "status": "finished"})
    await state.hosted.log.request_cancel(run_id)
    log.info("run_cancel_requested", run_id=run_id)
    return JSONResponse({"run_id": run_id, "status": "cancelling"}, status_code=202)


ROUTES = [
    Route("/v1/runs/{run_id}/events", run_events, methods=["GET"]),
    Route("/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
]
