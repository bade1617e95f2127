"""Copass's agent-run endpoint, so a client written for Copass's hosted service runs unchanged
(the wire format is in docs/hosted.md and docs/coming-from-copass.md):

``POST /api/v1/storage/sandboxes/{sandbox_id}/agents/run`` takes Copass's body, ``provider``,
``model``, ``system_prompt``, ``messages``, ``end_user_id`` and optionally ``session_id`` and
the providers' own fields (``reasoning_engine_id``, ``location``), with the same API keys as
``/v1/runs`` (``Authorization: Bearer <key>``), and streams Copass's frames
(:mod:`.copass_frames`).

- ``messages``: user messages (their text joined is the turn's message) and system messages
  (their text joins ``system_prompt``). The router's session keeps the assistant's side, so an
  assistant or tool message is refused, naming ``session_id`` as the way to continue.
- The sandbox id is no namespace here: an API key is the tenant and the router's store holds its
  sessions. It is checked (1-128 letters, digits, ``.``, ``_``, ``-``, ``:``) and the run
  carries it as its ``copass_sandbox`` metadata, which tools and event middleware see.

A run is a hosted run (:mod:`.launch`, as ``/v1/runs``: same keys, tenancy, limits, budgets),
read back from the run log and translated. Errors before the stream are JSON
``{"detail", "code", ...}`` with the problem's status (Copass's client raises with the status
and the body's first 300 characters, so ``detail`` comes first); in the stream, an
``agent_error`` frame and then ``agent_finish`` with ``stop_reason: "error"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router._errors import InvalidRequestError
from copass_router._events import Event
from copass_router._logs import get_logger
from copass_router.server._copass_frames import CopassTranslation, encode_frame
from copass_router.server._hosted_run import disconnect_policy
from copass_router.server._launch import launch_run
from copass_router.server._log_events import translated_frames
from copass_router.server._sse import SSEResponse
from copass_router.serving._auth import Principal
from copass_router.serving._payloads import read_json_object, run_fields

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.server")

PATH = "/api/v1/storage/sandboxes/{sandbox_id}/agents/run"
SANDBOX_METADATA_KEY = "copass_sandbox"
_SANDBOX = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TEXT_PART = "text"


def copass_error(answer: Response) -> Response:
    """A problem response (:mod:`.problems`) as plain JSON with ``detail`` first, then
    ``code`` and the problem's other members: Copass's client shows the status and the first
    300 characters of the body."""
    body = json.loads(bytes(answer.body))
    error = {"detail": body.get("detail", ""), "code": body.get("code")}
    error.update({k: v for k, v in body.items() if k not in ("type", "title", "status")})
    headers = {
        name: answer.headers[name]
        for name in ("retry-after", "www-authenticate")
        if name in answer.headers
    }
    return JSONResponse(error, status_code=answer.status_code, headers=headers)


def _text(content: Any, where: str) -> str:
    """A message's content as text: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != _TEXT_PART:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise InvalidRequestError(
                    f"{where}.content[{index}] is a {kind!r} part; this endpoint takes text "
                    "(send images and files through /v1/runs)",
                    field="messages",
                )
            texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    raise InvalidRequestError(
        f"{where}.content must be a string or a list of text parts", field="messages"
    )


def _turn(messages: Any) -> tuple[str, list[str]]:
    """The turn's message and any system text, from Copass's ``messages``."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError(
            'messages must be a non-empty list such as [{"role": "user", "content": "..."}]',
            field="messages",
        )
    user: list[str] = []
    system: list[str] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidRequestError(f"{where} must be an object", field="messages")
        role = message.get("role")
        if role == "user":
            user.append(_text(message.get("content"), where))
        elif role == "system":
            system.append(_text(message.get("content"), where))
        else:
            raise InvalidRequestError(
                f"{where} has role {role!r}: the router's session keeps the assistant's side "
                "of the conversation, so send the new user message with the session_id of the "
                "last agent_finish",
                field="messages",
            )
    if not user:
        raise InvalidRequestError("messages has no user message", field="messages")
    return "\n\n".join(user), system


def _fields(
    state: HostedState, principal: Principal, sandbox_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """``Router.run``'s keyword fields from Copass's request body."""
    if "system" in body:
        raise InvalidRequestError(
            "send the system prompt as system_prompt (this endpoint speaks Copass's fields)",
            field="system",
        )
    if "message" in body:
        raise InvalidRequestError(
            'send the turn as messages: [{"role": "user", "content": ...}]', field="message"
        )
    system_prompt = body.pop("system_prompt", None)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InvalidRequestError("system_prompt must be a string", field="system_prompt")
    message, system = _turn(body.pop("messages", None))
    prompt = "\n\n".join(part for part in (system_prompt, *system) if part)
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError("metadata must be an object of string values", field="metadata")
    body.update(
        message=message,
        system=prompt or None,
        metadata={**metadata, SANDBOX_METADATA_KEY: sandbox_id},
    )
    return run_fields(body, principal, state.router.plugins.fields_in_use())


async def run_agent(request: Request) -> Response:
    """``POST /api/v1/storage/sandboxes/{sandbox_id}/agents/run``: one turn, as Copass's
    frames."""
    state: HostedState = request.app.state.copass_router
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return copass_error(principal)
    sandbox_id = request.path_params["sandbox_id"]

    async def read() -> tuple[dict[str, Any], str]:
        if not _SANDBOX.fullmatch(sandbox_id):
            raise InvalidRequestError(
                "the sandbox id in the path must be 1-128 letters, digits, '.', '_', '-' or ':'",
                field="sandbox_id",
            )
        body = await read_json_object(request, state.max_body_bytes)
        policy = disconnect_policy(body)
        return _fields(state, principal, sandbox_id, body), policy

    started = await launch_run(state, request, principal, read)
    if isinstance(started, Response):
        return copass_error(started)
    run_id = started.run_id

    async def on_close(disconnected: bool) -> None:
        await state.hosted.client_left(run_id, disconnected)

    return SSEResponse(
        _frames(state, run_id),
        on_close=on_close,
        headers={"X-Copass-Run-Id": run_id, "X-Copass-Session-Id": started.session_id},
    )


def _frames(state: HostedState, run_id: str) -> AsyncIterator[bytes]:
    """The run's Copass frames, from its first event to its last (heartbeats while quiet)."""
    translation = CopassTranslation()

    def encode(event: Event) -> bytes:
        return b"".join(encode_frame(name, data) for name, data in translation.feed(event))

    return translated_frames(
        state.hosted.log,
        run_id,
        state.heartbeat,
        encode,
        lambda: translation.finished,
        "the session's transcript has the turn",
        on_progress=state.hosted.progress(run_id),
    )


ROUTES = [Route(PATH, run_agent, methods=["POST"])]
