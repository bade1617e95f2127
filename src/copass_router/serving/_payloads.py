"""Reading JSON request bodies: a run request and a dispatch call, each field checked by name."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from starlette.requests import ClientDisconnect, Request

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
from copass_router._types import RunRequest
from copass_router.run._nesting import MAX_DEPTH, too_deep
from copass_router.run._requests import snake_case_fields
from copass_router.serving._auth import Principal

MAX_BODY_BYTES = 8 * 1024 * 1024
_RUN_FIELDS = frozenset(f.name for f in attrs.fields(RunRequest))
_ID_MAX = 128
TENANT_METADATA_KEY = "tenant"


async def read_json_object(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`InvalidRequestError`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"the request body is over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone (or cut off by the body timeout): nobody reads the answer, but it is not a 500.
        raise InvalidRequestError("the client left before sending the whole body") from None
    try:
        data = json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise InvalidRequestError("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    for name, value in data.items():
        if too_deep(value):
            raise InvalidRequestError(
                f"{name} nests deeper than {MAX_DEPTH} levels", field=str(name)[:64]
            )
    return data


def run_fields(
    body: Mapping[str, Any], principal: Principal, provider_fields: Collection[str] = ()
) -> dict[str, Any]:
    """The keyword fields for ``Router.run`` from a hosted run request.

    The end user is namespaced by the caller's key (see :mod:`.auth`). Per-run ``tools`` are
    refused: a tool is a Python function and cannot travel over HTTP, so a hosted run may use
    only the tools registered on the server's router, which every run gets anyway. Field names
    may be snake_case or camelCase (``end_user_id`` or ``endUserId``); ``provider_fields``
    are the names of the installed providers' own fields, which the body carries top-level.
    """
    body = snake_case_fields(body, provider_fields)  # JavaScript clients' endUserId...
    if isinstance(body.get("fallbacks"), list):
        body["fallbacks"] = [
            snake_case_fields(f, provider_fields) if isinstance(f, Mapping) else f
            for f in body["fallbacks"]
        ]
    given = {name for name, value in body.items() if value is not None}
    unknown = sorted(given - _RUN_FIELDS - set(provider_fields))
    if unknown:
        declared = ", ".join(sorted(provider_fields)) or "none"
        raise InvalidRequestError(
            f"unknown run field {unknown[0]!r}; known fields: {', '.join(sorted(_RUN_FIELDS))}; "
            f"fields of installed providers: {declared}",
            field=unknown[0],
        )
    fields = {k: v for k, v in body.items() if v is not None}
    if fields.pop("tools", None):
        raise InvalidRequestError(
            "a hosted run cannot carry tools (they are Python functions); register them on the "
            "server's router, and every run may use them",
            field="tools",
        )
    end_user = fields.get("end_user_id", "local")
    if end_user == "":  # as the session endpoints read an empty end_user_id
        end_user = "local"
    if not isinstance(end_user, str):
        raise InvalidRequestError("end_user_id must be a string", field="end_user_id")
    limit = _ID_MAX - len(principal.scope(""))
    if len(end_user) > limit:
        raise InvalidRequestError(
            f"end_user_id must be at most {limit} characters", field="end_user_id"
        )
    fields["end_user_id"] = principal.scope(end_user)
    metadata = fields.get("metadata", {})
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidRequestError("metadata must be an object of string values", field="metadata")
    if principal.key_id is not None:
        # Tools see which tenant a run belongs to; a caller cannot claim another tenant.
        fields["metadata"] = {**metadata, TENANT_METADATA_KEY: principal.key_id}
    _refuse_steering(fields.get("options"))
    for fallback in fields.get("fallbacks") or ():
        if isinstance(fallback, Mapping):
            _refuse_steering(fallback.get("options"))
    for name in ("max_tool_rounds", "timeout"):
        if isinstance(fields.get(name), bool):
            raise InvalidRequestError(f"{name} must be a number", field=name)
    return fields


def _refuse_steering(options: Any) -> None:
    """Hosted callers cannot choose where the router connects: provider URLs are the
    operator's configuration (environment), or a request could aim the router, and the keys it
    holds, at any address."""
    if not isinstance(options, Mapping):
        return
    for key in options:
        if isinstance(key, str) and ("url" in key.lower() or "host" in key.lower()):
            raise InvalidRequestError(
                f"option {key!r} would choose where the router connects; a hosted request "
                "cannot set it (the operator configures provider URLs in the environment)",
                field=f"options.{key}",
            )


@attrs.frozen
class DispatchBody:
    """One ``POST /v1/dispatch`` body."""

    token: str
    tool_name: str
    arguments: Mapping[str, Any]
    call_id: str
    round_id: str | None = None


def dispatch_call(body: Mapping[str, Any], authorization_token: str | None) -> DispatchBody:
    """The dispatch call a deployed agent sent (token in the body or as a bearer credential)."""
    token = authorization_token or body.get("token") or ""
    if not isinstance(token, str):
        raise InvalidRequestError("token must be a string", field="token")
    tool_name = body.get("tool_name")
    if not isinstance(tool_name, str) or not tool_name:
        raise InvalidRequestError("tool_name must be a non-empty string", field="tool_name")
    arguments = body.get("arguments", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InvalidRequestError("arguments must be a JSON object", field="arguments")
    call_id = body.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("call_id must be a non-empty string", field="call_id")
    round_id = body.get("round")
    if round_id is not None and not isinstance(round_id, str):
        raise InvalidRequestError("round must be a string", field="round")
    return DispatchBody(token, tool_name, arguments, call_id, round_id or None)
