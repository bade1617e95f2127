"""Tool-schema checks for emulators: refuse what each provider's API refuses.

``schema_problems(schema, dialect)`` lists what the provider would reject, empty when it takes
the schema; an emulator answers a request carrying such a schema with its API's 400.

- ``json-schema`` (Anthropic custom tools, OpenAI Chat Completions functions): a valid JSON
  Schema whose top level is ``type: object`` without ``anyOf``/``oneOf``/``allOf``/``enum``/
  ``not``, and whose every ``$ref`` resolves inside the schema.
- ``gemini`` (function declarations): only the keywords of Gemini's Schema object, a single
  type name per schema, string enums only, no ``$ref``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Imported with the emulator, not inside its first request: an import there stalls the
# emulator's loop for a moment, which shifts rate-limit windows the tests measure.
import jsonschema

from copass_router.integrations.schemas import GEMINI_KEYWORDS, GEMINI_TYPES

_TOP_REFUSED = ("anyOf", "oneOf", "allOf", "enum", "not")


def schema_problems(schema: Any, dialect: str) -> list[str]:
    """What the provider speaking ``dialect`` would refuse in ``schema`` (empty: it takes it)."""
    if not isinstance(schema, Mapping):
        return ["the schema must be an object"]
    if dialect == "gemini":
        return _gemini(schema, "parameters")
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append(f"the top-level type must be 'object', got {schema.get('type')!r}")
    problems += [f"'{w}' is not allowed at the top level" for w in _TOP_REFUSED if w in schema]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        problems.append(f"not a valid JSON Schema: {exc.message}")
    problems += _dangling_refs(schema, schema)
    return problems


def _dangling_refs(node: Any, root: Mapping[str, Any]) -> list[str]:
    if isinstance(node, list):
        return [p for n in node for p in _dangling_refs(n, root)]
    if not isinstance(node, Mapping):
        return []
    found: list[str] = []
    ref = node.get("$ref")
    if isinstance(ref, str):
        target: Any = root
        for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else [None]:
            target = target.get(part) if isinstance(target, Mapping) and part else None
        if target is None:
            found.append(f"$ref {ref!r} does not resolve")
    for key, value in node.items():
        if key != "$ref":
            found += _dangling_refs(value, root)
    return found


def _gemini(node: Any, where: str) -> list[str]:
    if not isinstance(node, Mapping):
        return [f"{where}: a schema must be an object"]
    problems = [f"{where}: unknown field {k!r}" for k in node if k not in GEMINI_KEYWORDS]
    kind = node.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in GEMINI_TYPES):
        problems.append(f"{where}.type: {kind!r} is not a Gemini type")
    if kind is None and "anyOf" not in node:
        problems.append(f"{where}: a schema needs a type")
    if "enum" in node and (kind != "string" or not all(isinstance(v, str) for v in node["enum"])):
        problems.append(f"{where}.enum: only string enums are supported")
    for name, sub in (node.get("properties") or {}).items():
        problems += _gemini(sub, f"{where}.properties.{name}")
    if "items" in node:
        problems += _gemini(node["items"], f"{where}.items")
    if kind == "array" and "items" not in node:
        problems.append(f"{where}: an array needs items")
    for n, sub in enumerate(node.get("anyOf") or ()):
        problems += _gemini(sub, f"{where}.anyOf[{n}]")
    return problems
