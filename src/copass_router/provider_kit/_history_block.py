"""Portable context as text: the turns a managed runtime's session missed, for its next message.

A managed runtime (a hosted agent that keeps its own conversation) takes only user messages, so
the turns its session has not seen (they ran before it existed, or on another provider) travel
as one text block the backend puts before the user's message:

    [copass-router history: earlier turns of this conversation, oldest first, one JSON ...]
    {"role": "user", "text": "What is 2+2?"}
    {"role": "assistant", "text": "", "tool_calls": [{"id": "c1", "name": "add", "arguments": ...}]}
    {"role": "tool", "call_id": "c1", "name": "add", "text": "4", "is_error": false}
    {"role": "assistant", "text": "It is 4."}
    [end of copass-router history]

(The header reads "... one JSON message per line]" in full.) Each line between header and
footer is one JSON object, so a message's text, whatever it holds (newlines, the footer, lines
that look like turns), stays inside its own string: no message can close the block early or
forge a turn. The messages are :func:`transcript_messages`' (tool calls only with their
results); reasoning and images are not in the block. :func:`split_history` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._types import ChatMessage, ToolCallRequest, TranscriptTurn
from ._chat_loop import transcript_messages

HEADER = (
    "[copass-router history: earlier turns of this conversation, oldest first, "
    "one JSON message per line]"
)
FOOTER = "[end of copass-router history]"
_ROLES = frozenset({"user", "assistant", "tool"})


def history_block(turns: Sequence[TranscriptTurn]) -> str:
    """The block for ``turns``: header, one JSON message per line, footer (no trailing newline);
    the empty string when they hold no message."""
    messages = transcript_messages(turns)
    if not messages:
        return ""
    return "\n".join([HEADER, *(_line(m) for m in messages), FOOTER])


def split_history(text: str) -> tuple[list[ChatMessage], str]:
    """Undo :func:`history_block`: the earlier messages in a text that begins with a block, and
    what follows the block (one blank line after the footer dropped). A text that does not begin
    with a well-formed block is returned whole, with no messages."""
    lines = text.split("\n")
    if lines[0] != HEADER or FOOTER not in lines:
        return [], text
    end = lines.index(FOOTER)  # a JSON line starts with "{", so it never equals the footer
    try:
        messages = [_message(json.loads(raw)) for raw in lines[1:end]]
    except (ValueError, TypeError, KeyError):
        return [], text
    return messages, "\n".join(lines[end + 1 :]).removeprefix("\n")


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
    return json.dumps(data, ensure_ascii=False, default=str)


def _message(data: Any) -> ChatMessage:
    if not isinstance(data, dict) or data.get("role") not in _ROLES:
        raise ValueError("not a history message")
    calls = tuple(
        ToolCallRequest(str(c["id"]), str(c["name"]), dict(c.get("arguments") or {}))
        for c in data.get("tool_calls") or ()
    )
    return ChatMessage(
        data["role"],
        str(data.get("text", "")),
        tool_calls=calls,
        call_id=data.get("call_id"),
        name=data.get("name"),
        is_error=bool(data.get("is_error", False)),
    )
