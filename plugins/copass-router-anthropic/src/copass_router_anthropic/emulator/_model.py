"""What the emulated agent's model sees and says: the session log as neutral chat messages.

The model is copass-router's scripted model; this module turns a Managed Agents event log into
its input (:func:`conversation`) and names the API's ``session.error`` types its errors map to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from copass_router import ChatMessage, ToolCallRequest, split_history

from ._parts import block_part

#: Built-in tools of ``agent_toolset_20260401``.
BUILTIN_TOOLS = frozenset(
    {"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"}
)
#: ``session.error`` types the API defines; ``/error CODE`` uses CODE when it names one.
ERROR_TYPES = frozenset(
    {
        "unknown_error",
        "model_overloaded_error",
        "model_rate_limited_error",
        "model_request_failed_error",
        "mcp_connection_failed_error",
        "mcp_authentication_failed_error",
        "billing_error",
        "credential_host_unreachable_error",
        "tool_use_limit_reached_error",
        "compaction_limit_reached_error",
    }
)
_ERROR_ALIASES = {
    "overloaded": "model_overloaded_error",
    "rate_limited": "model_rate_limited_error",
    "rate_limit": "model_rate_limited_error",
    "server_error": "model_request_failed_error",
    "permission_denied": "billing_error",
}


def error_type_for(code: str) -> str:
    """The ``session.error`` type that renders the scripted model's error ``code``."""
    if code in ERROR_TYPES:
        return code
    if f"{code}_error" in ERROR_TYPES:
        return f"{code}_error"
    return _ERROR_ALIASES.get(code, "unknown_error")


def user_messages(content: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """A ``user.message``'s blocks as chat messages: one per text block (a history block read
    back as the messages it holds), each image or document joining the message before it (the
    emulator's ``/parts`` lists them)."""
    messages: list[ChatMessage] = []
    for n, block in enumerate(content):
        part = block_part(block, f"content.{n}")
        if part is None:
            earlier, text = split_history(block.get("text", ""))
            messages.extend(earlier)
            if text or not earlier:
                messages.append(ChatMessage(role="user", text=text))
            continue
        last = messages.pop() if messages else ChatMessage(role="user")
        messages.append(attrs.evolve(last, parts=(*last.parts, part)))
    return messages


def conversation(log: Sequence[dict[str, Any]], system: str | None) -> list[ChatMessage]:
    """The session's log as neutral chat messages (each user text block is one message)."""
    messages = [ChatMessage(role="system", text=system)] if system else []
    names: dict[str, str] = {}
    for event in log:
        kind = event["type"]
        if kind == "user.message":
            messages.extend(user_messages(event.get("content", [])))
        elif kind == "agent.message":
            text = "".join(b.get("text", "") for b in event.get("content", []))
            messages.append(ChatMessage(role="assistant", text=text))
        elif kind in ("agent.custom_tool_use", "agent.tool_use", "agent.mcp_tool_use"):
            names[event["id"]] = event["name"]
            call = ToolCallRequest(event["id"], event["name"], event.get("input", {}))
            messages.append(ChatMessage(role="assistant", tool_calls=(call,)))
        elif kind in ("user.custom_tool_result", "agent.tool_result", "agent.mcp_tool_result"):
            call_id = str(
                event.get("custom_tool_use_id")
                or event.get("tool_use_id")
                or event.get("mcp_tool_use_id")
            )
            text = "".join(b.get("text", "") for b in event.get("content") or [])
            messages.append(
                ChatMessage(
                    role="tool",
                    text=text,
                    call_id=call_id,
                    name=names.get(call_id, ""),
                    is_error=bool(event.get("is_error")),
                )
            )
    return messages
