"""The JSON Schema of an attrs class, for ``output_schema=SomeAttrsClass``.

Covers what a structured answer is made of: str, int, float, bool, None, lists and tuples,
dicts with string keys, ``Literal``, optional fields and nested attrs classes. A field of
another type is refused with the field's name.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs

from copass_router._errors import InvalidRequestError

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def attrs_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of attrs class ``cls`` (an object with a property per field)."""
    return _object(cls, f"output_schema {cls.__name__}")


def _object(cls: type, where: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        hint = hints.get(field.name, Any)
        properties[field.name] = _of(hint, f"{where}.{field.name}")
        if field.default is attrs.NOTHING:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _of(hint: Any, where: str) -> dict[str, Any]:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if isinstance(hint, type) and attrs.has(hint):
        return _object(hint, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple, set, frozenset) and args:
        return {"type": "array", "items": _of(args[0], where)}
    if origin is dict and len(args) == 2 and args[0] is str:
        return {"type": "object", "additionalProperties": _of(args[1], where)}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_of(a, where) for a in args]}
    raise InvalidRequestError(
        f"{where} has a type without a JSON Schema here ({hint!r}); use str, int, float, bool, "
        "lists, dicts, Literal, Optional or nested attrs classes, or pass a JSON Schema dict",
        field="output_schema",
    )
