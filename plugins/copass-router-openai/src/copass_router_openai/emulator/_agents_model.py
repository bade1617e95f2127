"""What the emulated agent's model sees: a session's items as neutral chat messages.

The model is copass-router's scripted model; user messages (each one message, its text parts
joined, a history block in front read back as the messages it holds), assistant messages,
function calls with their outputs and the runtime's own tool calls (``web_search_call``: the
call and its results) reach it; reasoning items do not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from copass_router import ChatMessage, TextPart, ToolCallRequest, split_history

from ._parts import agents_input_parts


def conversation(items: Sequence[Mapping[str, Any]], instructions: Any) -> list[ChatMessage]:
    """A session's items as neutral chat messages, after its instructions (reasoning stays
    out: the scripted model never sees it again, as no other provider does)."""
    messages = [ChatMessage(role="system", text=str(instructions))] if instructions else []
    names: dict[str, str] = {}
    for item in items:
        kind = item["type"]
        if kind == "message":
            parts = item.get("content") or []
            text = "\n".join(str(p.get("text", "")) for p in parts if "text" in p)
            shown = agents_input_parts(parts, "input") if item["role"] == "user" else ()
            images = tuple(p for p in shown if not isinstance(p, TextPart))
            earlier, text = split_history(text) if item["role"] == "user" else ([], text)
            messages.extend(earlier)
            if text or images or not earlier:
                messages.append(ChatMessage(role=item["role"], text=text, parts=images))
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            args = json.loads(item["arguments"] or "{}")
            call = ToolCallRequest(item["call_id"], item["name"], args)
            messages.append(ChatMessage(role="assistant", tool_calls=(call,)))
        elif kind.endswith("_call") and kind != "function_call":
            tool = kind.removesuffix("_call")
            args = dict(item.get("action") or {})
            args.pop("type", None)
            call = ToolCallRequest(item["id"], tool, args)
            messages.append(ChatMessage(role="assistant", tool_calls=(call,)))
            result = f"3 results for {args.get('query', '')}"
            messages.append(ChatMessage(role="tool", text=result, call_id=item["id"], name=tool))
        elif kind == "function_call_output":
            failed = item["status"] == "failed"
            text = str(item.get("error") if failed else item.get("output") or "")
            messages.append(
                ChatMessage(
                    role="tool",
                    text=text,
                    call_id=item["call_id"],
                    name=names.get(item["call_id"], ""),
                    is_error=failed,
                )
            )
    return messages
