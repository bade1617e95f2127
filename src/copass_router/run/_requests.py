"""Building and checking a RunRequest: every bad field gets an error that names it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
from copass_router._generation import (
    check_generation,
    check_generation_for_backend,
    run_field_hint,
)
from copass_router._types import RunRequest

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import AgentBackend

#: Request fields only some providers use; each backend lists those it uses in ``accepts``.
PROVIDER_FIELDS = ("reasoning_engine_id", "location")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$")
_FIELDS = {f.name for f in attrs.fields(RunRequest)}
_CAMEL = re.compile(r"(?<=[a-z0-9])[A-Z]")
MAX_MESSAGE_CHARS = 1_000_000


def check_id(value: Any, field: str) -> None:
    """Raise :class:`InvalidRequestError` unless ``value`` is a well-formed id."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequestError(
            f"{field} must be 1-128 characters of letters, digits and _.:@- "
            f"(starting with a letter or digit); got {value!r:.60}",
            field=field,
        )


def _check_text(value: Any, field: str) -> None:
    """Strings must be storable: a lone surrogate would be stored, then break every reader, and
    a NUL cannot be stored at all (PostgreSQL text), so the run's usage would go unrecorded."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(
                f"{field} is not valid Unicode text (a lone surrogate at {exc.start})",
                field=field,
            ) from None
        if "\x00" in value:
            raise InvalidRequestError(
                f"{field} contains a NUL character (U+0000) at {value.index(chr(0))}; remove it",
                field=field,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_text(key, field)
            _check_text(item, f"{field}.{key}" if isinstance(key, str) else field)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item, field)


def validate_request(request: RunRequest, max_message_chars: int = MAX_MESSAGE_CHARS) -> None:
    """Raise :class:`InvalidRequestError` for the first bad field of ``request``."""
    if not isinstance(request.provider, str) or not request.provider:
        raise InvalidRequestError("provider is required, e.g. provider='echo'", field="provider")
    if not isinstance(request.message, str) or not request.message.strip():
        raise InvalidRequestError("message must be a non-empty string", field="message")
    if len(request.message) > max_message_chars:
        raise PayloadTooLargeError(
            f"message is {len(request.message)} characters; the limit is {max_message_chars}",
            field="message",
        )
    for name in (
        "provider",
        "message",
        "model",
        "system",
        "reasoning_engine_id",
        "location",
        "options",
        "metadata",
        "stop",
    ):
        _check_text(getattr(request, name), name)
    for name in ("model", "system", "reasoning_engine_id", "location"):
        value = getattr(request, name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequestError(f"{name} must be a string", field=name)
    check_id(request.end_user_id, "end_user_id")
    if request.session_id is not None:
        check_id(request.session_id, "session_id")
    rounds = request.max_tool_rounds
    if not isinstance(rounds, int) or isinstance(rounds, bool) or not 0 <= rounds <= 100:
        raise InvalidRequestError(
            "max_tool_rounds must be an integer from 0 to 100", field="max_tool_rounds"
        )
    if request.timeout is not None and (
        isinstance(request.timeout, bool)
        or not isinstance(request.timeout, int | float)
        or not math.isfinite(request.timeout)
        or request.timeout <= 0
    ):
        raise InvalidRequestError("timeout must be a positive number of seconds", field="timeout")
    if not isinstance(request.options, Mapping):
        raise InvalidRequestError("options must be a mapping", field="options")
    check_generation(request)
    if request.allowed_tools is not None or request.keep_allowed_tools is not False:
        from copass_router.integrations.selection import check_selection

        check_selection(request)


def snake_case_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with camelCase names of run fields (``endUserId``, ``reasoningEngineId``, as
    JavaScript clients spell them) renamed to the field they spell; other names are kept as
    given, so an unknown one is still refused by name. Both spellings of one field: refused."""
    renamed: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(name, str):
            raise InvalidRequestError(f"run field names are strings; got {name!r:.60}")
        snake = _CAMEL.sub(lambda m: "_" + m.group(0).lower(), name)
        field = snake if snake in _FIELDS else name
        if field in renamed:
            raise InvalidRequestError(
                f"{field!r} is given twice (as {field!r} and as {name!r}); give it once",
                field=field,
            )
        renamed[field] = value
    return renamed


def build_request(
    request: RunRequest | Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    max_message_chars: int = MAX_MESSAGE_CHARS,
) -> RunRequest:
    """A checked RunRequest from either a RunRequest, a mapping of its fields (snake_case or
    camelCase names) or keyword fields (not two of them)."""
    if request is not None:
        if fields:
            raise InvalidRequestError("pass a RunRequest or keyword fields, not both")
        if isinstance(request, Mapping):
            return build_request(None, snake_case_fields(request), max_message_chars)
        if not isinstance(request, RunRequest):
            raise InvalidRequestError(
                f"a run takes a RunRequest, a dict of its fields or keyword fields; got a "
                f"{type(request).__name__}"
            )
        validate_request(request, max_message_chars)
        return request
    unknown = sorted(set(fields) - _FIELDS)
    if "mcp_servers" in unknown:
        from copass_router.integrations.selection import refuse_servers

        raise refuse_servers()
    if unknown:
        raise InvalidRequestError(
            f"unknown run field {unknown[0]!r}; known fields: {', '.join(sorted(_FIELDS))}",
            field=unknown[0],
        )
    for name in ("provider", "message"):
        if name not in fields:
            raise InvalidRequestError(f"{name} is required", field=name)
    built = RunRequest(**fields)
    validate_request(built, max_message_chars)
    return built


def check_for_backend(
    request: RunRequest, backend: AgentBackend, fields_in_use: Iterable[str]
) -> None:
    """Check ``request`` against what ``backend`` declares (the one message format for all).

    A provider field this backend does not use is ignored when another installed provider uses
    it (``fields_in_use``), so one set of fields can go to whichever provider runs; a field no
    installed provider uses is refused. Options must be ones the backend lists in
    ``option_types``, with values of the listed type; generation settings ones it lists in
    ``generation_settings``.
    """
    check_generation_for_backend(request, backend)
    known = set(fields_in_use)
    for name in PROVIDER_FIELDS:
        if getattr(request, name) is None or name in backend.accepts or name in known:
            continue
        raise InvalidRequestError(
            f"no installed provider uses {name!r} (provider {request.provider!r} does not); "
            "remove it",
            field=name,
        )
    types = backend.option_types
    unknown = sorted(set(request.options) - set(types))
    if unknown:
        listed = ", ".join(sorted(types)) or "none"
        raise InvalidRequestError(
            f"provider {request.provider!r} does not take option(s) {', '.join(unknown)}; "
            f"its options: {listed}{run_field_hint(unknown)}",
            field="options",
        )
    for name, value in request.options.items():
        expected = types[name]
        wanted = expected if isinstance(expected, tuple) else (expected,)
        fits = isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))
        if value is not None and not fits:
            names = " or ".join(t.__name__ for t in wanted)
            raise InvalidRequestError(
                f"option {name!r} of provider {request.provider!r} must be {names}, "
                f"not {type(value).__name__}",
                field="options",
            )
