"""The Open Responses endpoints (the wire format is in docs/hosted.md):

- ``POST /v1/responses``: a run, answered as a response object, as Responses events
  (``stream: true``), or at once while it goes on (``background: true``).
- ``GET /v1/responses/{id}``: the response as it stands; with ``?stream=true`` its events
  (after ``starting_after``), then the live ones.
- ``POST /v1/responses/{id}/cancel``: cancel its run; the response once it has stopped.

A response is a hosted run (:mod:`.launch`, as ``/v1/runs``: same keys, tenancy, limits,
budgets), read back from the run log and translated (:mod:`.responses_events`). Errors are the
Responses API's ``{"error": {"message", "type", "param", "code"}}`` with the router's neutral
``code``; ``GET`` and ``cancel`` take the response's ``user`` as a query parameter.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._errors import RouterError
from copass_router._events import Event
from copass_router._logs import get_logger
from copass_router.server._launch import launch_run
from copass_router.server._log_events import LogGone, cut_short, follow_events, translated_frames
from copass_router.server._responses_events import (
    ResponseTranslation,
    response_from_turn,
    response_object,
)
from copass_router.server._responses_request import (
    ResponseId,
    ResponsesRequest,
    read_responses_request,
)
from copass_router.server._sse import SSEResponse
from copass_router.serving._payloads import read_json_object
from copass_router.serving._problems import problem

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.server")

CANCEL_WAIT = 10.0  # seconds a cancel waits for the run to stop before answering
_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    410: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error(answer: Response) -> Response:
    """A problem response (:mod:`.problems`) in the Responses API's error shape."""
    body = json.loads(bytes(answer.body))
    status = answer.status_code
    error = {
        "message": body.get("detail", ""),
        "type": _ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        ),
        "param": body.get("field"),
        "code": body.get("code"),
    }
    headers = {
        name: answer.headers[name]
        for name in ("retry-after", "www-authenticate")
        if name in answer.headers
    }
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _state(request: Request) -> HostedState:
    state: HostedState = request.app.state.copass_router
    return state


async def create_response(request: Request) -> Response:
    """``POST /v1/responses``."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return openai_error(principal)
    read: list[ResponsesRequest] = []

    async def read_fields() -> tuple[dict[str, Any], str]:
        body = await read_json_object(request, state.max_body_bytes)
        asked = read_responses_request(body, principal, state.router)
        read.append(asked)
        # Nobody could find a blocking response again if its client left; the others resume.
        return asked.fields, "continue" if asked.stream or asked.background else "cancel"

    started = await launch_run(state, request, principal, read_fields)
    if isinstance(started, Response):
        return openai_error(started)
    asked = read[0]
    response_id = ResponseId(started.run_id, started.session_id, int(time.time()))
    translation = ResponseTranslation(
        response_object(
            response_id,
            asked.model,
            instructions=asked.instructions,
            tools=asked.tools,
            previous_response_id=asked.previous_response_id,
            metadata=asked.metadata,
            background=asked.background,
            temperature=asked.fields.get("temperature"),
            max_output_tokens=asked.fields.get("max_output_tokens"),
        ),
        started.run_id,
    )
    run_id = started.run_id
    headers = {"X-Copass-Run-Id": run_id, "X-Copass-Session-Id": started.session_id}
    if asked.background:
        await state.hosted.client_left(run_id, disconnected=True)  # it goes on by itself
        translation.feed(started)
        return JSONResponse(translation.response, headers=headers)
    if asked.stream:

        async def on_close(disconnected: bool) -> None:
            await state.hosted.client_left(run_id, disconnected)

        frames = _frames(state, run_id, translation, -1, state.hosted.progress(run_id))
        return SSEResponse(frames, on_close=on_close, headers=headers)
    disconnected = False
    try:
        disconnected = await _fold_while_connected(request, state, run_id, translation)
    finally:
        await state.hosted.client_left(run_id, disconnected)
    return JSONResponse(translation.response, headers=headers)


async def _fold_while_connected(
    request: Request, state: HostedState, run_id: str, translation: ResponseTranslation
) -> bool:
    """Fold the run to its end, unless the client leaves first (then True: it left)."""
    folding = asyncio.ensure_future(
        _fold(state, run_id, translation, progress=state.hosted.progress(run_id))
    )
    watching = asyncio.ensure_future(_left(request))
    try:
        await asyncio.wait({folding, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (folding, watching):
            task.cancel()
        await asyncio.wait({folding, watching})
    if not folding.cancelled() and (failure := folding.exception()) is not None:
        raise failure
    return watching.done() and not watching.cancelled()


async def _left(request: Request) -> None:
    """Returns once the client has disconnected (the body was read before)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _fold(
    state: HostedState,
    run_id: str,
    translation: ResponseTranslation,
    *,
    until_quiet: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Feed the run's logged events to ``translation`` (to the end, or what there is now)."""
    quiet = 0.05 if until_quiet else state.heartbeat
    try:
        async for batch in follow_events(
            state.hosted.log, run_id, quiet, until_quiet=until_quiet, on_progress=progress
        ):
            for event in batch:
                translation.feed(event)
    except LogGone as exc:
        log.warning("run_log_gone", run_id=run_id, error=str(exc))
        for event in cut_short("run_log_trimmed", f"{exc}; the session's transcript has the turn"):
            translation.feed(event)


def _frames(
    state: HostedState,
    run_id: str,
    translation: ResponseTranslation,
    after: int,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The run's Responses events as SSE, those numbered after ``after``, then live ones."""

    def encode(event: Event) -> bytes:
        items = translation.feed(event)
        return b"".join(_frame(item) for item in items if item["sequence_number"] > after)

    return translated_frames(
        state.hosted.log,
        run_id,
        state.heartbeat,
        encode,
        lambda: translation.finished,
        "the session's transcript has the turn",
        on_progress=progress,
    )


def _frame(item: dict[str, Any]) -> bytes:
    # No SSE ``id``: a client resumes by ``sequence_number`` (``starting_after``), and the
    # openai SDKs' SSE readers take a heartbeat comment after an id for an empty event.
    data = json.dumps(item, separators=(",", ":"), default=str)
    return f"event: {item['type']}\ndata: {data}\n\n".encode()


async def _lookup(request: Request) -> tuple[HostedState, ResponseId, bool] | Response:
    """The response the request names, if its caller may see it, and whether it runs."""
    state = _state(request)
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return openai_error(principal)
    raw = request.path_params["response_id"]
    named = ResponseId.decode(raw)
    end_user = principal.scope(request.query_params.get("user") or "local")
    info = await state.hosted.log.info(named.run_id) if named is not None else None
    if named is None or info is None or info.owner != end_user:
        return openai_error(
            problem(
                404,
                "not_found",
                f"no response {raw[:80]!r} for this user (pass the response's user as a "
                "query parameter)",
            )
        )
    if info.expired:
        return openai_error(
            problem(
                404,
                "run_log_expired",
                "the response's events are no longer kept; the session's transcript "
                f"(GET /v1/sessions/{named.session_id}) has the turn",
            )
        )
    request.scope.setdefault("copass.log", {})["run_id"] = named.run_id
    return state, named, info.running


def _translation(named: ResponseId) -> ResponseTranslation:
    return ResponseTranslation(response_object(named, ""), named.run_id)


async def retrieve_response(request: Request) -> Response:
    """``GET /v1/responses/{id}`` (``?stream=true&starting_after=N`` streams)."""
    found = await _lookup(request)
    streaming = request.query_params.get("stream", "").lower() == "true"
    if isinstance(found, Response):
        if found.status_code == 404 and not streaming:
            kept = await _from_transcript(request)
            if kept is not None:
                return JSONResponse(kept)
        return found
    state, named, _running = found
    translation = _translation(named)
    if not streaming:
        await _fold(state, named.run_id, translation, until_quiet=True)
        return JSONResponse(translation.response)
    raw = request.query_params.get("starting_after", "").strip() or "-1"
    if not raw.lstrip("-").isdigit() or len(raw) > 16:
        return openai_error(
            problem(
                400,
                "invalid_request",
                "starting_after must be the sequence_number of the last event you received",
                field="starting_after",
            )
        )

    async def on_close(disconnected: bool) -> None:
        return None  # the run goes on: only the request that started it has a policy

    frames = _frames(state, named.run_id, translation, int(raw))
    return SSEResponse(frames, on_close=on_close, headers={"X-Copass-Run-Id": named.run_id})


async def _from_transcript(request: Request) -> dict[str, Any] | None:
    """The response rebuilt from its session's transcript, if its caller may see it."""
    state = _state(request)
    principal = state.authenticate(request)
    named = ResponseId.decode(request.path_params["response_id"])
    if isinstance(principal, Response) or named is None:
        return None
    end_user = principal.scope(request.query_params.get("user") or "local")
    try:
        turns = await state.router.transcript(named.session_id, end_user)
    except RouterError:
        return None
    for turn in turns:
        if turn.run_id == named.run_id:
            return response_from_turn(named, turn)
    return None


async def cancel_response(request: Request) -> Response:
    """``POST /v1/responses/{id}/cancel``: the response once its run has stopped."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    state, named, running = found
    if running:
        await state.hosted.log.request_cancel(named.run_id)
        log.info("run_cancel_requested", run_id=named.run_id)
    translation = _translation(named)
    try:
        async with asyncio.timeout(CANCEL_WAIT):
            await _fold(state, named.run_id, translation)
    except TimeoutError:  # still stopping: the response as it stands
        translation = _translation(named)
        await _fold(state, named.run_id, translation, until_quiet=True)
    return JSONResponse(translation.response)


ROUTES = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
]
