"""An Open Responses request (``POST /v1/responses``) read into the fields of a router run.

What a router can mean by each field:

- ``model``: ``provider/model`` (``anthropic/claude-opus-4-7``), or an alias the operator
  configured in ``COPASS_ROUTER_MODEL_ALIASES`` (``fast=openai/gpt-4o-mini,...``).
- ``instructions``: the system prompt. ``input``: a string, or message items whose text parts
  (``input_text``) form the turn's message; system and developer messages join the
  instructions. The conversation itself lives in the router's session: earlier assistant
  output or tool results cannot be sent back, ``previous_response_id`` continues the session.
- ``tools``: ``{"type": "function", "name": ...}`` entries naming the router's tools; they run
  in the router, so a request cannot define one, and since every run may use all of them a
  list must name them all.
- ``user``: the end user (as ``end_user_id`` of ``/v1/runs``); ``metadata`` as there.
- ``temperature``, ``max_output_tokens``: the run's generation settings (refused, naming them,
  by a provider that has no equivalent).

A response id carries the run id, the session id and the creation time, so continuing or
reading a response needs no table beside the session store and the run log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import attrs

from copass_router._errors import InvalidRequestError
from copass_router.content._parts import Part, TextPart
from copass_router.run._router import Router
from copass_router.server._responses_parts import content_parts
from copass_router.serving._auth import Principal
from copass_router.serving._payloads import run_fields

ALIASES_ENV = "COPASS_ROUTER_MODEL_ALIASES"
ID_PREFIX = "resp_"

# Fields of the Responses API a router run honours as their default says, and the values
# that mean the default; any other value is refused rather than ignored.
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "store": (True,),
    "tool_choice": ("auto",),
    "parallel_tool_calls": (True,),
    "include": ((), []),
    "truncation": ("disabled",),
}
_FIELDS = frozenset(
    {
        "model",
        "instructions",
        "input",
        "tools",
        "stream",
        "background",
        "previous_response_id",
        "user",
        "metadata",
        "stream_options",
        "temperature",
        "max_output_tokens",
        *_DEFAULTS,
    }
)


@attrs.frozen
class ResponseId:
    """What a response id names: the run, its session and when the response was created."""

    run_id: str
    session_id: str
    created_at: int

    def encode(self) -> str:
        """The id as the client sees it (``resp_...``)."""
        raw = f"{self.run_id}\n{self.session_id}\n{self.created_at}".encode()
        return ID_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> ResponseId | None:
        """The id's parts, or None when ``value`` is no response id of this router."""
        if not value.startswith(ID_PREFIX) or len(value) > 600:
            return None
        body = value[len(ID_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        parts = raw.split("\n")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]))


@attrs.frozen
class ResponsesRequest:
    """A Responses request, read: the run's fields and how to answer it."""

    fields: dict[str, Any]
    stream: bool
    background: bool
    model: str  # as the client named it, echoed in the response
    instructions: str | None
    tools: tuple[Mapping[str, Any], ...]
    previous_response_id: str | None
    metadata: Mapping[str, str]


def model_aliases(environ: Mapping[str, str]) -> dict[str, str]:
    """``COPASS_ROUTER_MODEL_ALIASES``: ``name=provider/model`` pairs, comma separated."""
    aliases = {}
    for pair in environ.get(ALIASES_ENV, "").split(","):
        name, sep, target = pair.partition("=")
        if sep and name.strip() and "/" in target:
            aliases[name.strip()] = target.strip()
    return aliases


def read_responses_request(
    body: Mapping[str, Any], principal: Principal, router: Router
) -> ResponsesRequest:
    """The run a Responses request asks for, or :class:`InvalidRequestError` naming the field."""
    for name, value in body.items():
        if name not in _FIELDS and value is not None:
            raise InvalidRequestError(
                f"{name!r} is not supported by this router's Responses endpoint; supported: "
                f"{', '.join(sorted(_FIELDS))}",
                field=str(name)[:64],
            )
        if name in _DEFAULTS and value is not None and value not in _DEFAULTS[name]:
            raise InvalidRequestError(
                f"{name} can only be {_DEFAULTS[name][0]!r} here", field=str(name)
            )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model is required (provider/model or an alias)", field="model")
    provider, model_name = _route(model, router.environ)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError("instructions must be a string", field="instructions")
    message, extra_system = _message(body.get("input"))
    system = "\n\n".join(s for s in (instructions, *extra_system) if s) or None
    tools = _tools(body.get("tools"), router)
    previous = body.get("previous_response_id")
    session_id = None
    if previous is not None:
        named = ResponseId.decode(previous) if isinstance(previous, str) else None
        if named is None:
            raise InvalidRequestError(
                "previous_response_id is not a response id of this router",
                field="previous_response_id",
            )
        session_id = named.session_id
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequestError("user must be a string", field="user")
    run_body = {
        "provider": provider,
        "model": model_name,
        "message": message,
        "system": system,
        "session_id": session_id,
        "end_user_id": user,
        "metadata": body.get("metadata"),
        "temperature": body.get("temperature"),
        "max_output_tokens": body.get("max_output_tokens"),
    }
    fields = run_fields(run_body, principal)
    for name in ("stream", "background"):
        if body.get(name) is not None and not isinstance(body.get(name), bool):
            raise InvalidRequestError(f"{name} must be true or false", field=name)
    return ResponsesRequest(
        fields=fields,
        stream=bool(body.get("stream")),
        background=bool(body.get("background")),
        model=model,
        instructions=instructions,
        tools=tools,
        previous_response_id=previous,
        metadata=body.get("metadata") or {},
    )


def _route(model: str, environ: Mapping[str, str]) -> tuple[str, str]:
    target = model_aliases(environ).get(model, model)
    provider, sep, name = target.partition("/")
    if not sep or not provider or not name:
        raise InvalidRequestError(
            f"model {model!r} must be provider/model (such as echo/echo-1) or an alias the "
            f"operator set in {ALIASES_ENV}",
            field="model",
        )
    return provider, name


def _message(value: Any) -> tuple[str | list[Part], list[str]]:
    """The turn's message (its text, or its parts when it has images or files) and any
    system text from ``input``."""
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError("input must not be empty", field="input")
        return value, []
    if not isinstance(value, list) or not value:
        raise InvalidRequestError("input must be a string or a list of messages", field="input")
    user: list[list[Part]] = []
    system: list[str] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, Mapping) or item.get("type", "message") != "message":
            raise InvalidRequestError(
                f"{where} must be a message: this router keeps the conversation, so earlier "
                "output and tool results are not sent back (use previous_response_id)",
                field=where,
            )
        role = item.get("role")
        parts = content_parts(item.get("content"), where)
        if role == "user":
            user.append(parts)
        elif role in ("system", "developer") and all(isinstance(p, TextPart) for p in parts):
            system.append("\n".join(p.text for p in parts if isinstance(p, TextPart)))
        else:
            raise InvalidRequestError(
                f"{where} has role {role!r}; send user (or system/developer text) messages: "
                "the router's session keeps the assistant's side (use previous_response_id)",
                field=where,
            )
    if not user:
        raise InvalidRequestError("input has no user message", field="input")
    if all(isinstance(p, TextPart) for parts in user for p in parts):
        texts = ["\n".join(p.text for p in parts if isinstance(p, TextPart)) for parts in user]
        return "\n\n".join(texts), system
    return [p for parts in user for p in parts], system


def _tools(value: Any, router: Router) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequestError("tools must be a list", field="tools")
    known = router._base_dispatcher().names()
    named = set()
    for index, entry in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(entry, Mapping) or entry.get("type") != "function":
            raise InvalidRequestError(
                f'{where} must be {{"type": "function", "name": ...}} naming a router tool',
                field=where,
            )
        extra = sorted(k for k, v in entry.items() if k not in ("type", "name") and v is not None)
        if extra:
            raise InvalidRequestError(
                f"{where} sets {extra[0]!r}: tools run in the router, which defines them; "
                "name a router tool only",
                field=where,
            )
        name = entry.get("name")
        if name not in known:
            raise InvalidRequestError(
                f"{where} names {name!r}, not a tool of this router; its tools: "
                f"{', '.join(sorted(known)) or 'none'}",
                field=where,
            )
        named.add(name)
    if named and named != known:
        raise InvalidRequestError(
            "every run may use all of the router's tools; list them all or leave tools out "
            f"(missing: {', '.join(sorted(known - named))})",
            field="tools",
        )
    return tuple(dict(entry) for entry in value)
