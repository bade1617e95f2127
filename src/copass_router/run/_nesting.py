"""How deep a JSON-like value nests, checked without recursion.

The wire converter (cattrs), ``json`` and jsonschema all recurse, several Python frames per
level, so a value a few hundred levels deep (2 KB of brackets) raises ``RecursionError`` wherever
it is first serialised: in the middle of a stream, or while a turn is being recorded. Values
that come from outside (tool arguments a model wrote, tool results, provider payloads, request
options) are checked here first and refused cleanly instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copass_router._events import Error, Event, ToolCall

MAX_DEPTH = 64

#: The event classes with a free-form value of their own (besides ``provider_data``): the only
#: ones :func:`event_too_deep` walks when ``provider_data`` is None.
FREE_FORM_EVENTS = frozenset({ToolCall, Error})


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests mappings and lists more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def event_too_deep(event: Event) -> bool:
    """Whether one of ``event``'s free-form values (``provider_data``, a tool call's
    ``arguments``, an error's ``detail``) nests too deep to be sent or recorded."""
    if event.provider_data is not None and too_deep(event.provider_data):
        return True
    cls = event.__class__
    if cls is ToolCall:
        return too_deep(event.arguments)  # type: ignore[attr-defined]
    if cls is Error:
        return too_deep(event.detail)  # type: ignore[attr-defined]
    return False
