"""The hosted router as an ASGI app: ``create_app(router)`` serves, or mounts into a host app.

Routes (the wire format is described in docs/hosted.md):

- ``POST /v1/runs``: a run request as JSON, answered as Server-Sent Events.
- ``GET /v1/runs/{id}/events`` (resume) and ``POST /v1/runs/{id}/cancel``: see :mod:`.resume`.
- ``GET /v1/providers``; ``GET /v1/sessions``; ``GET``/``DELETE /v1/sessions/{id}``.
- ``/v1/responses`` (Open Responses, :mod:`.responses_route`) and ``/v1/agui`` (AG-UI,
  :mod:`.agui_route`): the same runs in those protocols' shapes.
- ``POST /api/v1/storage/sandboxes/{id}/agents/run``: Copass's agent-run endpoint, so Copass's
  clients run unchanged (:mod:`.copass_route`).
- ``POST /v1/dispatch``: the tool callback of deployed agents (run-scoped token, no API key).
- ``GET /healthz`` (the process is up) and ``GET /readyz`` (it takes runs; 503 while draining).

Every run goes through the very same ``Router.run`` an in-process caller uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._errors import RouterError
from copass_router._logs import get_logger, scrub
from copass_router.run._router import Router
from copass_router.server._admission import ReaderSlots, RunLimits, RunSlots
from copass_router.server._agui_route import ROUTES as AGUI_ROUTES
from copass_router.server._approvals_route import ROUTES as APPROVAL_ROUTES
from copass_router.server._copass_route import ROUTES as COPASS_ROUTES
from copass_router.server._hosted_run import (
    HostedRuns,
    disconnect_policy,
    follow_frames,
    max_detached_from_environ,
    run_log_from_environ,
)
from copass_router.server._keyless import KeylessRefusal, check_keyless
from copass_router.server._launch import launch_run
from copass_router.server._responses_route import ROUTES as RESPONSES_ROUTES
from copass_router.server._resume import ROUTES as RESUME_ROUTES
from copass_router.server._run_log import RunLog
from copass_router.server._runs import StreamingRuns
from copass_router.server._session_views import session_dict, turn_dicts
from copass_router.server._sse import SSEResponse
from copass_router.server._usage_route import get_usage
from copass_router.server.console.access import admin_key_from
from copass_router.serving._access_log import AccessLog
from copass_router.serving._auth import ApiKeys, Principal, bearer_token
from copass_router.serving._dispatch_endpoint import DISPATCH_PATH, dispatch_endpoint
from copass_router.serving._dispatch_server import healthz
from copass_router.serving._payloads import MAX_BODY_BYTES, read_json_object, run_fields
from copass_router.serving._problems import (
    http_exception_handler,
    internal_error_handler,
    problem,
    problem_for,
    unauthorized,
)

log = get_logger("copass_router.server")

DEFAULT_HEARTBEAT = 15.0


class HostedState:
    """What the app's endpoints share: the router, the keys and the live runs.

    Reach it as ``app.state.copass_router``; a host embedding the app calls
    ``await app.state.copass_router.drain(grace)`` before it stops serving.
    """

    def __init__(
        self,
        router: Router,
        keys: ApiKeys,
        heartbeat: float,
        max_body_bytes: int = MAX_BODY_BYTES,
        run_limits: RunLimits | None = None,
        run_log: RunLog | None = None,
    ) -> None:
        self.router = router
        self.keys = keys
        self.heartbeat = heartbeat
        self.max_body_bytes = max_body_bytes
        self.runs = StreamingRuns()
        self.slots = RunSlots(run_limits or RunLimits())
        self.readers = ReaderSlots(self.slots.limits)
        self.hosted = HostedRuns(  # runs' event logs: resume and cancel by run id
            router,
            self.runs,
            run_log or run_log_from_environ(router.environ),
            max_detached_from_environ(router.environ),
        )

    async def drain(self, grace: float) -> None:
        """Refuse new runs, let running turns finish for ``grace`` seconds, cancel the rest."""
        await self.runs.drain(grace)
        await self.hosted.aclose()

    def authenticate(self, request: Request) -> Principal | Response:
        """The caller's principal, or the 401/403 answer to send instead."""
        if not self.keys.enabled:
            try:
                check_keyless(request)
            except KeylessRefusal as refusal:
                log.warning("keyless_request_refused", reason=str(refusal))
                return problem(refusal.status, refusal.code, str(refusal))
            return Principal(None)
        key = bearer_token(request.headers.get("authorization"))
        if key is None:
            return unauthorized("send your API key as 'Authorization: Bearer <key>'")
        key_id = self.keys.identify(key)
        if key_id is None:
            return unauthorized("the API key is not known to this router")
        request.scope.setdefault("copass.log", {})["key_id"] = key_id
        return Principal(key_id)


def _state(request: Request) -> HostedState:
    state: HostedState = request.app.state.copass_router
    return state


async def create_run(request: Request) -> Response:
    """``POST /v1/runs``: run one turn and stream its events."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal

    async def read() -> tuple[dict[str, Any], str]:
        body = await read_json_object(request, state.max_body_bytes)
        policy = disconnect_policy(body)
        return run_fields(body, principal, state.router.plugins.fields_in_use()), policy

    started = await launch_run(state, request, principal, read)
    if isinstance(started, Response):
        return started
    run_id = started.run_id

    async def on_close(disconnected: bool) -> None:
        # The run holds its slot until it ends (see launch_run), connected or not.
        await state.hosted.client_left(run_id, disconnected)

    return SSEResponse(
        follow_frames(state.hosted.log, run_id, -1, state.heartbeat, state.hosted.progress(run_id)),
        on_close=on_close,
        headers={"X-Copass-Run-Id": started.run_id, "X-Copass-Session-Id": started.session_id},
    )


async def list_providers(request: Request) -> Response:
    """``GET /v1/providers``: the installed providers."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    return JSONResponse(
        {
            "providers": [
                {
                    "name": p.name,
                    "plugin": p.plugin,
                    "version": p.version,
                    "description": p.description,
                }
                for p in state.router.providers()
            ]
        }
    )


def _end_user(request: Request, principal: Principal) -> str:
    end_user = request.query_params.get("end_user_id") or "local"
    return principal.scope(end_user)


async def list_sessions(request: Request) -> Response:
    """``GET /v1/sessions?end_user_id=...``: the end user's recent sessions, newest first."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    limit = _limit(request.query_params.get("limit", "50"))
    if limit is None:
        return problem(400, "invalid_request", "limit must be 1-500", field="limit")
    try:
        sessions = await state.router.list_sessions(_end_user(request, principal), limit)
    except RouterError as exc:
        return problem_for(exc)
    return JSONResponse({"sessions": [session_dict(s, principal) for s in sessions]})


def _limit(raw: str) -> int | None:
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and never a
    # number so long that converting it is work.
    if not (raw.isascii() and raw.isdigit() and len(raw.lstrip("0")) <= 3):
        return None
    value = int(raw)
    return value if 1 <= value <= 500 else None


async def get_session(request: Request) -> Response:
    """``GET /v1/sessions/{id}?end_user_id=...``: the session and its transcript."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    session_id = request.path_params["session_id"]
    end_user = _end_user(request, principal)
    try:
        info = await state.router.get_session(session_id, end_user)
        turns = await state.router.transcript(session_id, end_user)
    except RouterError as exc:
        return problem_for(exc)
    return JSONResponse({"session": session_dict(info, principal), "turns": turn_dicts(turns)})


async def delete_session(request: Request) -> Response:
    """``DELETE /v1/sessions/{id}?end_user_id=...``: forget the session and its transcript."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    try:
        await state.router.delete_session(
            request.path_params["session_id"], _end_user(request, principal)
        )
    except RouterError as exc:
        return problem_for(exc)
    return Response(status_code=204)


#: How long each of /readyz's checks may take: a probe wants its answer within seconds.
READY_CHECK_SECONDS = 2.0


async def readyz(request: Request) -> Response:
    """``GET /readyz``: the router takes runs (not draining; store, coordinator and run log
    reachable, each answering within :data:`READY_CHECK_SECONDS`)."""
    state = _state(request)
    if not state.runs.accepting:
        return JSONResponse({"status": "draining"}, status_code=503)
    checks = (
        ("store", lambda: state.router.store.list_sessions(None, 1)),
        ("coordinator", state.router.coordinator.ping),
        ("coordinator", state.hosted.log.ping),
    )
    for name, check in checks:
        try:
            async with asyncio.timeout(READY_CHECK_SECONDS):
                await check()
        except Exception as exc:
            log.warning(f"{name}_unavailable", error=scrub(repr(exc)))
            return JSONResponse({"status": f"{name}_unavailable"}, status_code=503)
    return JSONResponse({"status": "ready", "runs": len(state.runs)})


def create_app(
    router: Router,
    *,
    api_keys: Iterable[str] | ApiKeys | None = None,
    heartbeat: float = DEFAULT_HEARTBEAT,
    dispatch: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    run_limits: RunLimits | None = None,
    run_log: RunLog | None = None,
    admin_key: str | None = None,
) -> Starlette:
    """The hosted router as a Starlette app.

    :param router: the router every request runs on (the caller owns it and closes it).
    :param api_keys: accepted keys (``key`` or ``label:key``); None reads
        ``COPASS_ROUTER_API_KEYS`` from the router's environment. With no keys at all the app
        answers loopback clients only.
    :param heartbeat: seconds of quiet before a stream gets a heartbeat comment.
    :param dispatch: serve ``POST /v1/dispatch`` for deployed agents' tool calls.
    :param max_body_bytes: larger request bodies are refused with 413 (default 8 MiB); a
        message longer than the router's ``max_message_chars`` is refused with 413 too.
    :param run_limits: caps on runs in flight, per worker and per API key (a run over a cap
        is refused with 429); None: :class:`RunLimits` from ``COPASS_ROUTER_MAX_RUNS`` and
        ``COPASS_ROUTER_MAX_RUNS_PER_KEY`` in the router's environment.
    :param run_log: where runs' events are kept for resuming; None: Redis Streams when
        ``COPASS_ROUTER_COORDINATOR`` is a Redis URL, else memory (limits from the environment).
    :param admin_key: serve the operator console at ``/console`` to holders of this key; None
        reads ``COPASS_ROUTER_ADMIN_KEY`` (unset: no console). See docs/console.md.
    """
    if isinstance(api_keys, ApiKeys):
        keys = api_keys
    elif api_keys is None:
        keys = ApiKeys.from_environ(router.environ)
    else:
        keys = ApiKeys.parse(api_keys)
    routes = [
        Route("/v1/runs", create_run, methods=["POST"]),
        *RESUME_ROUTES,
        *RESPONSES_ROUTES,
        *AGUI_ROUTES,
        *APPROVAL_ROUTES,
        *COPASS_ROUTES,
        Route("/v1/providers", list_providers, methods=["GET"]),
        Route("/v1/sessions", list_sessions, methods=["GET"]),
        Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
        Route("/v1/usage", get_usage, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if dispatch:
        routes.append(
            Route(DISPATCH_PATH, dispatch_endpoint(router, max_body_bytes), methods=["POST"])
        )
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog)],
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
    )
    limits = run_limits if run_limits is not None else RunLimits.from_environ(router.environ)
    app.state.copass_router = HostedState(router, keys, heartbeat, max_body_bytes, limits, run_log)
    if not keys.enabled:
        log.warning("no_api_keys", detail="answering loopback clients only")
    console_key = admin_key_from(router.environ, keys, admin_key)
    app.state.copass_console = None
    if console_key is not None:
        from copass_router.server.console import add_console

        add_console(app, console_key, router.environ)
    return app
