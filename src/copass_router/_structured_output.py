"""Structured output: a run's ``output_schema`` and the check of what the model answered.

A run asks for a JSON value of a shape with ``output_schema=``: a JSON Schema (a dict), a
pydantic model class or an attrs class. The schema's root is an object. A backend that declares
:attr:`AgentBackend.structured_output` sends the schema in its provider's native mode (and makes
the turn's last assistant message the JSON text); on any other provider the core states the
schema in the system prompt (:func:`instructed_system`). Either way the core parses and
validates the final answer (:func:`check_output`), asks once again with the validation error,
and streams the value as ``StructuredOutput``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import InvalidRequestError

if TYPE_CHECKING:
    from copass_router._types import RunRequest

#: Where a schema stated in the system prompt begins and ends (the scripted model reads it).
SCHEMA_BEGIN = "<output-schema>"
SCHEMA_END = "</output-schema>"
#: The largest schema a run may carry, as compact JSON.
MAX_SCHEMA_CHARS = 64_000
#: Times the core asks again after an answer that does not validate.
OUTPUT_RETRIES = 1

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


def as_output_schema(value: Any) -> Any:
    """The JSON Schema ``value`` stands for (a dict, a pydantic model class or an attrs
    class); anything else is kept as given for :func:`check_output_schema` to refuse."""
    if value is None or isinstance(value, Mapping):
        return None if value is None else dict(value)
    if isinstance(value, type):
        make = getattr(value, "model_json_schema", None)
        if callable(make):  # a pydantic model class
            schema: dict[str, Any] = make()
            return schema
        if attrs.has(value):
            from copass_router._attrs_schema import attrs_schema

            return attrs_schema(value)
    return value


def check_output_schema(request: RunRequest) -> None:
    """Raise :class:`InvalidRequestError` unless the run's ``output_schema`` is a JSON Schema
    of an object that fits the size limit."""
    schema = request.output_schema
    if schema is None:
        return
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(
            "output_schema must be a JSON Schema (a dict), a pydantic model class or an attrs "
            f"class; got {type(schema).__name__}",
            field="output_schema",
        )
    try:
        text = json.dumps(schema, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        raise InvalidRequestError(
            "output_schema must be JSON (strings, numbers, lists and objects)",
            field="output_schema",
        ) from None
    if len(text) > MAX_SCHEMA_CHARS:
        raise InvalidRequestError(
            f"output_schema is {len(text)} characters as JSON; the limit is {MAX_SCHEMA_CHARS}",
            field="output_schema",
        )
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequestError(
            f"output_schema is not a valid JSON Schema: {exc.message}", field="output_schema"
        ) from None
    if schema.get("type") != "object":
        raise InvalidRequestError(
            'output_schema must describe an object ({"type": "object", ...}); wrap another '
            "value in a property",
            field="output_schema",
        )


def instructed_system(system: str | None, schema: Mapping[str, Any]) -> str:
    """``system`` with the instruction that asks for JSON of ``schema`` (the fallback of a
    provider without a native structured-output mode)."""
    stated = json.dumps(schema, separators=(",", ":"), sort_keys=True)
    instruction = (
        "Answer with one JSON value only, no prose and no code fence, that is valid against "
        f"this JSON Schema: {SCHEMA_BEGIN}{stated}{SCHEMA_END}"
    )
    return f"{system}\n\n{instruction}" if system else instruction


def request_for_backend(request: RunRequest, native: bool) -> RunRequest:
    """``request`` as a backend sees it: with its output schema stated in the system prompt
    when the backend has no ``native`` structured-output mode."""
    schema = request.output_schema
    if schema is None or native:
        return request
    return attrs.evolve(request, system=instructed_system(request.system, schema))


def schema_in_system(system: str) -> dict[str, Any] | None:
    """The schema :func:`instructed_system` stated in ``system`` (None: none)."""
    start = system.rfind(SCHEMA_BEGIN)
    end = system.rfind(SCHEMA_END)
    if start < 0 or end < start:
        return None
    try:
        schema = json.loads(system[start + len(SCHEMA_BEGIN) : end])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


@attrs.frozen
class OutputCheck:
    """What :func:`check_output` found: the value, or why the answer does not validate."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_output(text: str, schema: Mapping[str, Any]) -> OutputCheck:
    """Parse the model's answer ``text`` as JSON (a code fence around it is tolerated) and
    validate it against ``schema``."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced is not None:
        body = fenced.group(1).strip()
    if not body:
        return OutputCheck(error="the answer is empty; it must be one JSON value")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return OutputCheck(error=f"the answer is not JSON ({exc.msg} at character {exc.pos})")
    except ValueError:
        return OutputCheck(error="the answer is not JSON")
    from copass_router._schema_validators import validator

    errors = sorted(validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the top level"
        return OutputCheck(error=f"at {where}: {first.message}"[:500])
    return OutputCheck(value=value)


#: How the message that asks again begins.
CORRECTION_PREFIX = "(Your previous answer does not match the required JSON Schema:"


def correction_message(error: str) -> str:
    """The user message that asks the model once more after an answer that did not validate."""
    return (
        f"{CORRECTION_PREFIX} {error}. Answer again "
        "with one JSON value only that is valid against the schema.)"
    )
