"""Neutral messages and tools -> the OpenAI Chat Completions request body.

The transcript may hold tool calls made on other providers, whose ids OpenAI refuses (it wants
at most 40 characters) and tool names it refuses (``^[a-zA-Z0-9_-]{1,64}$``). Both are mapped
deterministically, so a call and its result always map to the same id, and mapped tool names
are mapped back before the router dispatches the call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from copass_router import ChatMessage, ToolCallRequest, ToolSpec, normalise_schema

from .parts import wire_content

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def wire_call_id(call_id: str) -> str:
    """``call_id`` if OpenAI accepts it, else a stable ``call_<hash>`` standing for it."""
    if _SAFE_ID.match(call_id):
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


class ToolNames:
    """Maps tool names onto names OpenAI accepts, and back."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._to_wire: dict[str, str] = {}
        self._from_wire: dict[str, str] = {}
        for name in names:
            self.wire(name)

    def wire(self, name: str) -> str:
        """The name to send for ``name``."""
        if name in self._to_wire:
            return self._to_wire[name]
        wired = name
        if not _SAFE_NAME.match(name):
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            wired = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:55] + "_" + digest
        self._to_wire[name] = wired
        self._from_wire[wired] = name
        return wired

    def neutral(self, wired: str) -> str:
        """The router's name for a name the model used."""
        return self._from_wire.get(wired, wired)

    def restore(self, calls: Sequence[ToolCallRequest]) -> tuple[ToolCallRequest, ...]:
        """``calls`` with the router's tool names."""
        return tuple(ToolCallRequest(c.call_id, self.neutral(c.name), c.arguments) for c in calls)


def wire_messages(messages: Sequence[ChatMessage], names: ToolNames) -> list[dict[str, Any]]:
    """The ``messages`` array for neutral ``messages``."""
    wired: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            if not message.text and not message.tool_calls:
                continue  # an empty assistant turn says nothing and some runtimes refuse it
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": wire_call_id(call.call_id),
                        "type": "function",
                        "function": {
                            "name": names.wire(call.name),
                            "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
                        },
                    }
                    for call in message.tool_calls
                ]
            wired.append(entry)
        elif message.role == "tool":
            wired.append(
                {
                    "role": "tool",
                    "tool_call_id": wire_call_id(message.call_id or ""),
                    "content": message.text,
                }
            )
        elif message.role == "user":
            wired.append({"role": "user", "content": wire_content(message)})
        else:
            wired.append({"role": message.role, "content": message.text})
    return wired


def wire_tools(tools: Sequence[ToolSpec], names: ToolNames) -> list[dict[str, Any]]:
    """The ``tools`` array for the run's tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": names.wire(spec.name),
                "description": spec.description,
                "parameters": _parameters(spec.parameters),
            },
        }
        for spec in tools
    ]


def _parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    # OpenAI requires an object schema with "properties", even when empty, and no combinator
    # at the top; $ref resolved inline.
    return normalise_schema(schema, "json-schema")
