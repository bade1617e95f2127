"""Building and checking a RunRequest: every bad field gets an error that names it."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
from copass_router._generation import (
    check_generation,
    check_generation_for_backend,
    run_field_hint,
)
from copass_router._request_fields import fits, type_names, unknown_field
from copass_router._types import RunRequest
from copass_router.content._checks import check_message_parts
from copass_router.content._parts import message_text
from copass_router.content._support import check_parts_taken

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import AgentBackend

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
    if isinstance(request.message, tuple):
        check_message_parts(request.message, max_message_chars)
    elif not isinstance(request.message, str) or not request.message.strip():
        raise InvalidRequestError(
            "message must be a non-empty string or a list of parts", field="message"
        )
    elif len(request.message) > max_message_chars:
        raise PayloadTooLargeError(
            f"message is {len(request.message)} characters; the limit is {max_message_chars}",
            field="message",
        )
    for name in (
        "provider",
        "message",
        "model",
        "system",
        "provider_fields",
        "options",
        "metadata",
        "stop",
    ):
        value = getattr(request, name)
        _check_text(message_text(value) if name == "message" else value, name)
    for name in ("model", "system"):
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
    if not isinstance(request.provider_fields, Mapping) or not all(
        isinstance(name, str) for name in request.provider_fields
    ):
        raise InvalidRequestError(
            "provider_fields must be a mapping of field names to values", field="provider_fields"
        )
    check_generation(request)
    if request.allowed_tools is not None or request.keep_allowed_tools is not False:
        from copass_router.integrations.selection import check_selection

        check_selection(request)


def snake_case_fields(
    fields: Mapping[str, Any], provider_fields: Collection[str] = ()
) -> dict[str, Any]:
    """``fields`` with camelCase names of run fields (``endUserId``, as JavaScript clients
    spell them) and of ``provider_fields`` renamed to the field they spell; other names are
    kept as given, so an unknown one is still refused by name. Both spellings of one field:
    refused."""
    renamed: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(name, str):
            raise InvalidRequestError(f"run field names are strings; got {name!r:.60}")
        snake = _CAMEL.sub(lambda m: "_" + m.group(0).lower(), name)
        field = snake if snake in _FIELDS or snake in provider_fields else name
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
    provider_fields: Mapping[str, Collection[str]] | None = None,
) -> RunRequest:
    """A checked RunRequest from either a RunRequest, a mapping of its fields (snake_case or
    camelCase names) or keyword fields (not two of them).

    A name that is no run field of the core's is a provider field when an installed provider
    declares it (``provider_fields``: each name with the providers that declare it), and
    refused otherwise; None: every such name is taken as a provider field (a remote router,
    whose server knows its providers, decides).
    """
    if request is not None:
        if fields:
            raise InvalidRequestError("pass a RunRequest or keyword fields, not both")
        if isinstance(request, Mapping):
            named = snake_case_fields(request, provider_fields or ())
            return build_request(None, named, max_message_chars, provider_fields)
        if not isinstance(request, RunRequest):
            raise InvalidRequestError(
                f"a run takes a RunRequest, a dict of its fields or keyword fields; got a "
                f"{type(request).__name__}"
            )
        validate_request(request, max_message_chars)
        return request
    # A field given as None is a field not given, whoever declares it (as for core fields).
    fields = {k: v for k, v in fields.items() if v is not None or k in _FIELDS}
    unknown = sorted(set(fields) - _FIELDS)
    if "mcp_servers" in unknown:
        from copass_router.integrations.selection import refuse_servers

        raise refuse_servers()
    if provider_fields is not None:
        fields = snake_case_fields(fields, provider_fields)
        unknown = sorted(set(fields) - _FIELDS)
        strangers = [name for name in unknown if name not in provider_fields]
        if strangers:
            declared = ", ".join(
                f"{name} ({', '.join(owners)})" for name, owners in sorted(provider_fields.items())
            )
            raise InvalidRequestError(
                f"unknown run field {strangers[0]!r}: no installed provider uses "
                f"{strangers[0]!r}; run fields: {', '.join(sorted(_FIELDS))}; fields of "
                f"installed providers: {declared or 'none'}",
                field=strangers[0],
            )
    for name in ("provider", "message"):
        if name not in fields:
            raise InvalidRequestError(f"{name} is required", field=name)
    if unknown:
        fields = _gather_provider_fields(fields, unknown)
    built = RunRequest(**fields)
    validate_request(built, max_message_chars)
    return built


def _gather_provider_fields(fields: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``fields`` with the provider fields given as keywords of their own moved into
    ``provider_fields``; one given both ways is refused."""
    core = {k: v for k, v in fields.items() if k in _FIELDS}
    given = core.get("provider_fields") or {}
    if not isinstance(given, Mapping):
        raise InvalidRequestError(
            "provider_fields must be a mapping of field names to values", field="provider_fields"
        )
    gathered = dict(given)
    for name in names:
        if name in gathered:
            raise InvalidRequestError(
                f"{name!r} is given twice (as a field and in provider_fields); give it once",
                field=name,
            )
        gathered[name] = fields[name]
    core["provider_fields"] = gathered
    return core


def check_for_backend(
    request: RunRequest, backend: AgentBackend, fields_in_use: Iterable[str]
) -> RunRequest:
    """Check ``request`` against what ``backend`` declares (the one message format for all);
    the request as the backend receives it (:func:`for_backend`).

    A provider field this backend does not declare is carried along when another installed
    provider declares it (``fields_in_use``), so one set of fields can go to whichever provider
    runs; a field no installed provider declares is refused, and so is a run without a field
    the backend requires. Options must be ones the backend declares in ``request_options``,
    with values of the declared type; generation settings ones it lists in
    ``generation_settings``.
    """
    check_generation_for_backend(request, backend)
    check_parts_taken(request.provider, request.message, backend.part_support)
    check_provider_fields(request, backend, fields_in_use)
    check_options(request, backend)
    return for_backend(request, backend)


def for_backend(request: RunRequest, backend: AgentBackend) -> RunRequest:
    """``request`` as ``backend`` receives it: with only the provider fields it declares (the
    others stay with the run, for its fallbacks)."""
    declared = backend.accepts
    if all(name in declared for name in request.provider_fields):
        return request
    kept = {k: v for k, v in request.provider_fields.items() if k in declared}
    return attrs.evolve(request, provider_fields=kept)


def check_provider_fields(
    request: RunRequest, backend: AgentBackend, fields_in_use: Iterable[str]
) -> None:
    """Refuse a provider field nobody declares, a value of the wrong type and a missing
    required field of ``backend``, each by name."""
    declared = {f.name: f for f in backend.request_fields}
    known = set(fields_in_use)
    for name, value in request.provider_fields.items():
        field = declared.get(name)
        if field is not None:
            field.check(value, request.provider)
        elif name not in known:
            raise InvalidRequestError(unknown_field(name, request.provider, declared), field=name)
    for field in declared.values():
        if field.required and field.name not in request.provider_fields:
            about = f": {field.help}" if field.help else ""
            raise InvalidRequestError(
                f"provider {request.provider!r} needs {field.name}{about}", field=field.name
            )


def check_options(request: RunRequest, backend: AgentBackend) -> None:
    """Refuse an option ``backend`` does not declare, or a value of another type, by name."""
    declared = backend.request_options
    unknown = sorted(set(request.options) - set(declared))
    if unknown:
        listed = ", ".join(sorted(declared)) or "none"
        raise InvalidRequestError(
            f"provider {request.provider!r} does not take option(s) {', '.join(unknown)}; "
            f"its options: {listed}{run_field_hint(unknown)}",
            field="options",
        )
    for name, value in request.options.items():
        expected = declared[name].type
        if value is not None and not fits(value, expected):
            raise InvalidRequestError(
                f"option {name!r} of provider {request.provider!r} must be "
                f"{type_names(expected)}, not {type(value).__name__}",
                field="options",
            )
