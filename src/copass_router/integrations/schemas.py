"""Tool schemas as each provider takes them.

Tools (MCP servers' above all) arrive with whatever JSON Schema their authors wrote; providers
take different subsets. A backend sends ``normalise_schema(spec.parameters, dialect)`` in its
request. The router still validates a call's arguments against the original schema, so a
rewrite here only loosens what the model is told, never what the tool receives.

Dialects:

- ``json-schema`` (Anthropic, OpenAI Chat Completions): ``$ref`` resolved inline, a top-level
  ``object`` with ``properties`` (a top-level ``anyOf``/``oneOf``/``allOf`` is merged into one
  object: both APIs refuse a combinator at the top).
- ``gemini`` (Gemini function declarations, an OpenAPI 3.0 subset): the above, and then only the
  keywords Gemini takes; ``type: [T, "null"]`` and ``anyOf: [X, {type: null}]`` become
  ``nullable``; ``const`` becomes a one-value ``enum``; enums are strings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

DIALECTS = ("json-schema", "gemini")
_COMBINATORS = ("anyOf", "oneOf", "allOf")
#: What Gemini's Schema object takes; anything else is dropped.
GEMINI_KEYWORDS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum",
    }
)  # fmt: skip
GEMINI_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_MAX_DEPTH = 32
#: How deep ``$ref``s are expanded: a recursive definition stops there as an open object.
_MAX_REF_DEPTH = 4


def normalise_schema(
    schema: Mapping[str, Any] | None, dialect: str = "json-schema"
) -> dict[str, Any]:
    """``schema`` rewritten for ``dialect`` (see the module's doc); the input is not changed."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown schema dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    root = copy.deepcopy(dict(schema or {}))
    defs = {**root.get("definitions", {}), **root.get("$defs", {})}
    resolved = _resolve(root, defs, 0)
    resolved.pop("$defs", None)
    resolved.pop("definitions", None)
    resolved.pop("$schema", None)
    result = _top_level_object(resolved)
    if dialect == "gemini":
        result = _gemini(result, 0)
        result["type"] = "object"
    return result


def _resolve(node: Any, defs: Mapping[str, Any], depth: int) -> Any:
    if isinstance(node, list):
        return [_resolve(n, defs, depth) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        if depth >= _MAX_REF_DEPTH or target is None:  # recursive or unknown: an open object
            return {"type": "object", "description": node.get("description", "")}
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs, depth + 1)
    return {k: _resolve(v, defs, depth) for k, v in node.items()}


def _top_level_object(schema: dict[str, Any]) -> dict[str, Any]:
    for word in _COMBINATORS:
        options = schema.pop(word, None)
        if isinstance(options, list):  # one object taking every option's properties
            properties: dict[str, Any] = dict(schema.get("properties", {}))
            for option in options:
                if isinstance(option, dict):
                    properties.update(option.get("properties", {}))
            schema["properties"] = properties
            if word != "allOf":
                schema.pop("required", None)
    schema["type"] = "object"
    schema.setdefault("properties", {})
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            schema["nullable"] = True
        schema["type"] = kinds[0] if len(kinds) == 1 else None
        if schema["type"] is None:
            del schema["type"]
            schema["anyOf"] = [{"type": k} for k in kinds]
    for word in ("anyOf", "oneOf"):
        options = schema.get(word)
        if isinstance(options, list):
            rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(rest) < len(options):
                schema["nullable"] = True
            schema.pop(word)
            if len(rest) == 1 and isinstance(rest[0], dict):
                schema = {**rest[0], **schema}
            elif rest:
                schema["anyOf"] = rest
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    return schema


def _gemini(node: Any, depth: int) -> Any:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return node if not isinstance(node, dict) else {"type": "object"}
    node = _nullable(dict(node))
    if "allOf" in node:  # Gemini has no allOf: the options' properties, merged
        node = _top_level_object(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in GEMINI_KEYWORDS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _gemini(sub, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _gemini(value, depth + 1) if isinstance(value, dict) else {}
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_gemini(v, depth + 1) for v in value]
        elif key == "enum" and isinstance(value, list):
            values = [v for v in value if v is not None]
            if all(isinstance(v, str) for v in values):
                out[key] = values
            else:  # Gemini takes string enums only: the values are said in words instead
                listed = ", ".join(json.dumps(v) for v in values)
                out["description"] = f"{node.get('description', '')} One of: {listed}.".strip()
        elif key == "format" and value not in ("enum", "date-time", "int32", "int64", "float"):
            continue
        else:
            out[key] = value
    if out.get("type") not in GEMINI_TYPES:
        out.pop("type", None)
    if "enum" in out:
        out["type"] = "string"
    if "type" not in out and "anyOf" not in out:
        out["type"] = "object" if "properties" in out else "string"
    if out.get("type") == "object" or "properties" in out:
        properties = out.get("properties", {})
        required = [r for r in out.get("required", []) if r in properties]
        if required:
            out["required"] = required
        else:
            out.pop("required", None)
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {"type": "string"}
    return out
