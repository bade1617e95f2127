"""A run's ``output_schema`` as Chat Completions' native structured output.

``response_format={"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``: the
model's answer is JSON of that schema. Strict mode (decoding constrained to the schema) is on
when the schema keeps strict mode's rules (every object closed with ``additionalProperties:
false`` and every property required); otherwise the schema guides the model and the router's
own validation has the last word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The name the schema is sent under (OpenAI wants ``^[a-zA-Z0-9_-]{1,64}$``).
SCHEMA_NAME = "output"


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The ``response_format`` field for ``schema``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "schema": dict(schema), "strict": strict_ok(schema)},
    }


def strict_ok(schema: Any) -> bool:
    """Whether ``schema`` keeps strict mode's rules, so strict decoding may be asked for:
    every object closed and all its properties required, in every nested schema."""
    if isinstance(schema, list):
        return all(strict_ok(item) for item in schema)
    if not isinstance(schema, Mapping):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, Mapping):
        if schema.get("additionalProperties") is not False:
            return False
        if set(properties or {}) - set(schema.get("required") or ()):
            return False
    nested = [
        *(
            v
            for key in ("properties", "$defs", "definitions")
            for v in (schema.get(key) or {}).values()
        ),
        *(schema[key] for key in ("items", "anyOf", "allOf", "oneOf") if key in schema),
    ]
    return all(strict_ok(item) for item in nested)
