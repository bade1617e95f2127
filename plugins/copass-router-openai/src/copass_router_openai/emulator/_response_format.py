"""The emulator's reading of ``response_format``, checked as the Chat Completions API checks it.

``json_schema`` needs a name matching ``^[a-zA-Z0-9_-]{1,64}$`` and a schema (an object); with
``strict: true`` the schema must keep strict mode's rules; ``json_object`` needs the word "json"
in the messages. The schema of a ``json_schema`` request goes to the scripted model, which then
answers with JSON valid against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from copass_router import ChatMessage

from ._wire import WireError

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def output_schema(
    body: Mapping[str, Any], messages: Sequence[ChatMessage]
) -> dict[str, Any] | None:
    """The schema a request's ``response_format`` asks for (None: free text)."""
    value = body.get("response_format")
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in m.text.lower() for m in messages):
            raise WireError(
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                param="messages",
            )
        return None
    if kind != "json_schema":
        raise WireError(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise WireError(
            "Missing required parameter: 'response_format.json_schema.name'.",
            param="response_format.json_schema.name",
            code="missing_required_parameter",
        )
    name = spec["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise WireError(
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise WireError(
            "Invalid type for 'response_format.json_schema.schema': expected an object.",
            param="response_format.json_schema.schema",
            code="invalid_type",
        )
    if spec.get("strict") is True:
        problems = strict_problems(schema)
        if problems:
            raise WireError(
                f"Invalid schema for response_format '{name}': {problems[0]}.",
                param="response_format",
                code="invalid_json_schema",
            )
    return schema


def strict_problems(schema: Any, where: str = "()") -> list[str]:
    """What in ``schema`` strict mode refuses, in the API's words (empty: nothing)."""
    if isinstance(schema, list):
        return [p for n, item in enumerate(schema) for p in strict_problems(item, f"{where}, {n}")]
    if not isinstance(schema, Mapping):
        return []
    problems: list[str] = []
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, Mapping):
        if schema.get("additionalProperties") is not False:
            problems.append(
                f"In context={where}, 'additionalProperties' is required to be supplied and to "
                "be false"
            )
        missing = [k for k in properties or {} if k not in (schema.get("required") or ())]
        if missing:
            problems.append(
                f"In context={where}, 'required' is required to be supplied and to be an array "
                f"including every key in properties. Missing '{missing[0]}'"
            )
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            for name, sub in value.items():
                problems += strict_problems(sub, f"{where}, '{key}', '{name}'")
        elif key in ("items", "anyOf", "allOf", "oneOf"):
            problems += strict_problems(value, f"{where}, '{key}'")
    return problems
