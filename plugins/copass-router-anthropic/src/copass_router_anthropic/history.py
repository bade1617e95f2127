"""The transcript a fresh Anthropic session missed, as context for its first user message.

Managed Agents sessions hold their own conversation; a session that starts after earlier turns
(on this provider under another configuration, or on another provider) is told what happened
in a clearly delimited text block before the user's message. Thinking and provider-specific
data never travel; tool calls and results do, as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from copass_router import (
    AssistantItem,
    Part,
    ToolCallItem,
    ToolResultItem,
    TranscriptTurn,
    UserItem,
)

from .parts import history_blocks, message_blocks

OPEN = "<conversation_history>"
CLOSE = "</conversation_history>"
PREAMBLE = (
    "Earlier turns of this conversation, for context only (they happened before this session"
    " started). The user's new message follows this block."
)


def render_history(turns: Sequence[TranscriptTurn]) -> str:
    """The turns as one delimited text block, one line per message or tool step."""
    lines = [OPEN, PREAMBLE]
    for turn in turns:
        lines.append(f"user: {turn.user}")
        for item in turn.items:
            if isinstance(item, UserItem):
                lines.append(f"user: {item.text}")
            elif isinstance(item, AssistantItem):
                lines.append(f"assistant: {item.text}")
            elif isinstance(item, ToolCallItem):
                args = json.dumps(dict(item.arguments), sort_keys=True, default=str)
                lines.append(f"tool_call {item.name} {args}")
            elif isinstance(item, ToolResultItem):
                flag = " (error)" if item.is_error else ""
                lines.append(f"tool_result {item.name}{flag}: {item.output}")
    lines.append(CLOSE)
    return "\n".join(lines)


def user_message(
    text: str, missed: Sequence[TranscriptTurn], parts: Sequence[Part] = ()
) -> dict[str, Any]:
    """The ``user.message`` event for a turn: the missed history (if any) with its images and
    documents, then the message (``parts``, when it was given as parts)."""
    content = [{"type": "text", "text": render_history(missed)}] if missed else []
    content.extend(history_blocks(missed))
    content.extend(message_blocks(parts) if parts else [{"type": "text", "text": text}])
    return {"type": "user.message", "content": content}
