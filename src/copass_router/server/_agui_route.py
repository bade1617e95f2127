"""The AG-UI endpoints (the wire format is in docs/hosted.md):

- ``POST /v1/agui``: AG-UI's ``RunAgentInput``, answered as AG-UI events over SSE. The
  thread is a router session (the first run on a thread starts one, later runs continue it);
  the last message, a user's, is the turn; ``forwardedProps`` carries ``model``
  (``provider/model`` or an alias) and optionally ``endUserId``; ``context`` entries join the
  system prompt. Input that ends with no new user message is a reload: the answer is the
  thread's ``MESSAGES_SNAPSHOT`` from the router's transcript, and no turn runs.
- ``GET /v1/agui/runs/{run_id}/events``: resume, the events after ``Last-Event-ID``
  (``<run id>:<n>``, the SSE id of each event), then the live ones.
- ``POST /v1/agui/runs/{run_id}/cancel``: cancel the run (it ends with the ``cancelled``
  outcome). A run goes on when its connection closes, unless ``forwardedProps`` says
  ``onDisconnect: "cancel"``.

A run is a hosted run (:mod:`.launch`, as ``/v1/runs``), read back from the run log and
translated (:mod:`.agui_events`). Errors before the stream are problem responses
(:mod:`.problems`); in the stream, ``RUN_ERROR`` with the neutral ``code``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._errors import InvalidRequestError, RouterError
from copass_router._events import Event
from copass_router._logs import get_logger
from copass_router._outages import store_call
from copass_router.server._agui_events import AguiTranslation, messages_snapshot
from copass_router.server._agui_parts import user_message
from copass_router.server._hosted_run import ON_DISCONNECT, disconnect_policy
from copass_router.server._launch import launch_run, request_error
from copass_router.server._log_events import translated_frames
from copass_router.server._responses_request import model_aliases
from copass_router.server._sse import SSEResponse
from copass_router.serving._auth import Principal
from copass_router.serving._payloads import read_json_object, run_fields
from copass_router.serving._problems import problem, problem_for

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.server")

THREADS = "agui_threads"  # the store's namespace of thread id -> session id
_ID_MAX = 128


def _state(request: Request) -> HostedState:
    state: HostedState = request.app.state.copass_router
    return state


def _frame(run_id: str, position: int, event: Mapping[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"), default=str)
    return f"id: {run_id}:{position}\ndata: {data}\n\n".encode()


def _string(body: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _ID_MAX:
        raise InvalidRequestError(f"{name} must be a string of 1-{_ID_MAX} characters", field=name)
    return value


def _thread_key(end_user: str, thread_id: str) -> str:
    return f"{end_user}\n{thread_id}"


def _system(props: Mapping[str, Any], context: Any) -> str | None:
    parts = []
    system = props.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise InvalidRequestError("forwardedProps.system must be a string", field="system")
        parts.append(system)
    if context is not None:
        if not isinstance(context, list):
            raise InvalidRequestError("context must be a list", field="context")
        for entry in context:
            if not isinstance(entry, Mapping):
                raise InvalidRequestError("a context entry must be an object", field="context")
            parts.append(f"{entry.get('description', '')}: {entry.get('value', '')}")
    return "\n\n".join(parts) or None


def _check_tools(tools: Any, known: frozenset[str]) -> None:
    """Tools run in the router: a listed tool must be one of its tools (its definition holds)."""
    for index, entry in enumerate(tools or ()):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name not in known:
            raise InvalidRequestError(
                f"tools[{index}] ({name!r}) is not a tool of this router; it runs tools itself, "
                f"so a run may list only its tools: {', '.join(sorted(known)) or 'none'}",
                field=f"tools[{index}]",
            )


async def run_agent(request: Request) -> Response:
    """``POST /v1/agui``: run the thread's next turn (or answer a reload with its messages)."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    try:
        body = await read_json_object(request, state.max_body_bytes)
        thread_id = str(_string(body, "threadId"))
        client_run = str(_string(body, "runId"))
        props = body.get("forwardedProps") or {}
        if not isinstance(props, Mapping):
            raise InvalidRequestError("forwardedProps must be an object", field="forwardedProps")
        end_user = principal.scope(_string(props, "endUserId", required=False) or "local")
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
            raise InvalidRequestError("messages must be a list of messages", field="messages")
        session_id = await _thread_session(state, end_user, thread_id)
        if not messages or messages[-1].get("role") != "user":
            return await _reload(state, end_user, thread_id, client_run, session_id)
        _check_tools(body.get("tools"), state.router._base_dispatcher().names())
        fields = _fields(state, principal, body, props, session_id)
        policy = disconnect_policy({ON_DISCONNECT: props.get("onDisconnect")})
    except (RouterError, TypeError) as exc:
        return problem_for(request_error(exc))

    async def read_fields() -> tuple[dict[str, Any], str]:
        return fields, policy

    started = await launch_run(state, request, principal, read_fields)
    if isinstance(started, Response):
        return started
    run_id = started.run_id
    if session_id is None:  # the thread's first run (or first since its session was deleted)
        try:
            async with store_call("remember the thread's session"):
                await state.router.store.put_resource(
                    THREADS, _thread_key(end_user, thread_id), {"session_id": started.session_id}
                )
        except RouterError as exc:  # the run goes on; the thread's next run starts over
            log.warning("agui_thread_not_kept", run_id=run_id, error=str(exc))
    translation = AguiTranslation(thread_id, client_run, body.get("state"))

    async def on_close(disconnected: bool) -> None:
        await state.hosted.client_left(run_id, disconnected)

    frames = _frames(state, run_id, translation, -1, state.hosted.progress(run_id))
    return SSEResponse(
        frames,
        on_close=on_close,
        headers={"X-Copass-Run-Id": run_id, "X-Copass-Session-Id": started.session_id},
    )


async def _thread_session(state: HostedState, end_user: str, thread_id: str) -> str | None:
    """The session of the thread, or None for a new thread (or one whose session was deleted:
    it starts over)."""
    async with store_call("find the thread's session"):
        known = await state.router.store.get_resource(THREADS, _thread_key(end_user, thread_id))
        if not known:
            return None
        session_id = str(known["session_id"])
        if await state.router.store.get_session(session_id, end_user) is None:
            return None
    return session_id


def _fields(
    state: HostedState,
    principal: Principal,
    body: Mapping[str, Any],
    props: Mapping[str, Any],
    session_id: str | None,
) -> dict[str, Any]:
    model = props.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            "forwardedProps.model is required: provider/model or an alias", field="model"
        )
    provider, _, name = model_aliases(state.router.environ).get(model, model).partition("/")
    if not provider or not name:
        raise InvalidRequestError(
            f"forwardedProps.model {model!r} must be provider/model or an alias", field="model"
        )
    run_body = {
        "provider": provider,
        "model": name,
        "message": user_message(body["messages"][-1]),
        "system": _system(props, body.get("context")),
        "session_id": session_id,
        "end_user_id": props.get("endUserId"),
    }
    return run_fields(run_body, principal)


async def _reload(
    state: HostedState, end_user: str, thread_id: str, client_run: str, session_id: str | None
) -> Response:
    """A thread's messages from the router's transcript, as a run that runs no turn."""
    turns = await state.router.transcript(session_id, end_user) if session_id else []
    events: list[dict[str, Any]] = [
        {"type": "RUN_STARTED", "threadId": thread_id, "runId": client_run},
        {"type": "MESSAGES_SNAPSHOT", "messages": messages_snapshot(turns)},
        {"type": "RUN_FINISHED", "threadId": thread_id, "runId": client_run},
    ]

    async def frames() -> AsyncIterator[bytes]:
        yield b"".join(_frame("snapshot", n, event) for n, event in enumerate(events))

    async def on_close(disconnected: bool) -> None:
        return None

    return SSEResponse(frames(), on_close=on_close)


def _frames(
    state: HostedState,
    run_id: str,
    translation: AguiTranslation,
    after: int,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The run's AG-UI events as SSE, those after position ``after``, then live ones."""

    def encode(event: Event) -> bytes:
        first = translation.count
        numbered = enumerate(translation.feed(event), first)
        return b"".join(_frame(run_id, n, item) for n, item in numbered if n > after)

    return translated_frames(
        state.hosted.log,
        run_id,
        state.heartbeat,
        encode,
        lambda: translation.finished,
        "the thread's messages have the turn",
        on_progress=progress,
    )


async def _lookup(request: Request) -> tuple[HostedState, str, bool] | Response:
    """The run the request names, if its caller may see it, and whether it runs."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    run_id = request.path_params["run_id"]
    end_user = principal.scope(request.query_params.get("endUserId") or "local")
    info = await state.hosted.log.info(run_id)
    if info is None or info.owner != end_user:
        return problem(
            404,
            "run_not_found",
            f"no run {run_id[:80]!r} for this end user (pass its endUserId as a query parameter)",
            run_id=run_id,
        )
    if info.expired:
        return problem(410, "run_log_expired", "the run's events are no longer kept")
    request.scope.setdefault("copass.log", {})["run_id"] = run_id
    return state, run_id, info.running


async def resume_run(request: Request) -> Response:
    """``GET /v1/agui/runs/{run_id}/events``: the events after ``Last-Event-ID``, then live."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, _running = found
    query = request.query_params
    raw = request.headers.get("last-event-id") or query.get("after") or f"{run_id}:-1"
    named, _, position = raw.strip().rpartition(":")
    if named not in ("", run_id) or not position.lstrip("-").isdigit() or len(position) > 16:
        return problem(
            400,
            "invalid_request",
            "Last-Event-ID must be the id of the last event you received (<run id>:<n>)",
            field="Last-Event-ID",
        )
    thread_id, client_run = query.get("threadId") or "", query.get("runId") or run_id
    translation = AguiTranslation(thread_id, client_run)

    async def on_close(disconnected: bool) -> None:
        return None  # the run goes on: only the request that started it has a policy

    frames = _frames(state, run_id, translation, int(position))
    return SSEResponse(frames, on_close=on_close, headers={"X-Copass-Run-Id": run_id})


async def cancel_run(request: Request) -> Response:
    """``POST /v1/agui/runs/{run_id}/cancel``: 202 while it is cancelled, 200 if it had ended."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, run_id, running = found
    if not running:
        return JSONResponse({"runId": run_id, "status": "finished"})
    await state.hosted.log.request_cancel(run_id)
    log.info("run_cancel_requested", run_id=run_id)
    return JSONResponse({"runId": run_id, "status": "cancelling"}, status_code=202)


ROUTES = [
    Route("/v1/agui", run_agent, methods=["POST"]),
    Route("/v1/agui/runs/{run_id}/events", resume_run, methods=["GET"]),
    Route("/v1/agui/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
]
