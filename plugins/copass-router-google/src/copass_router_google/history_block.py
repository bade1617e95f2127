"""Portable context: the turns an ADK session has not seen, given in the turn's first message.

When a router session reaches an ADK session that is behind (a new ADK session for a
conversation that began elsewhere, or turns run meanwhile on another provider), the backend
prepends this block to the user's message:

    [copass-router history: earlier turns of this conversation, oldest first, one JSON ...]
    {"role": "user", "text": "What is 2+2?"}
    {"role": "assistant", "text": "", "tool_calls": [{"id": "c1", "name": "add", "arguments": ...}]}
    {"role": "tool", "call_id": "c1", "name": "add", "text": "4", "is_error": false}
    {"role": "assistant", "text": "It is 4."}
    [end of copass-router history]

    <the user's new message>

(The header line reads "... one JSON message per line]" in full.) The header and footer lines
delimit it; each line between is one JSON object (so no content can
break out of the block), and the model reads it as the conversation so far. Tool calls appear
only with their results. :func:`split_history` reverses it (the emulator's model uses it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from copass_router import ChatMessage, ToolCallRequest, TranscriptTurn, transcript_messages

HEADER = (
    "[copass-router history: earlier turns of this conversation, oldest first, "
    "one JSON message per line]"
)
FOOTER = "[end of copass-router history]"


def _line(message: ChatMessage) -> str:
    data: dict[str, Any] = {"role": message.role}
    if message.role == "tool":
        data.update(call_id=message.call_id, name=message.name, text=message.text)
        data["is_error"] = message.is_error
    else:
        data["text"] = message.text
        if message.tool_calls:
            data["tool_calls"] = [
                {"id": c.call_id, "name": c.name, "arguments": dict(c.arguments)}
                for c in message.tool_calls
            ]
    return json.dumps(data, ensure_ascii=False, sort_keys=False)


def with_history(message: str, turns: Sequence[TranscriptTurn]) -> str:
    """``message`` with the block for ``turns`` in front (``message`` alone if there are none)."""
    messages = transcript_messages(turns)  # the core's neutral messages, calls paired
    if not messages:
        return message
    lines = [HEADER, *(_line(m) for m in messages), FOOTER]
    return "\n".join(lines) + "\n\n" + message


def split_history(text: str) -> tuple[list[ChatMessage], str]:
    """Undo :func:`with_history`: the earlier messages and the user's own message."""
    lines = text.split("\n")
    if lines[0] != HEADER or FOOTER not in lines:
        return [], text
    end = lines.index(FOOTER)  # JSON lines start with "{", so they never equal the footer
    messages = [_message(json.loads(raw)) for raw in lines[1:end] if raw.strip()]
    return messages, "\n".join(lines[end + 1 :]).removeprefix("\n")


def _message(data: dict[str, Any]) -> ChatMessage:
    calls = tuple(
        ToolCallRequest(str(c["id"]), str(c["name"]), dict(c.get("arguments") or {}))
        for c in data.get("tool_calls", ())
    )
    return ChatMessage(
        str(data["role"]),
        str(data.get("text", "")),
        tool_calls=calls,
        call_id=data.get("call_id"),
        name=data.get("name"),
        is_error=bool(data.get("is_error", False)),
    )
