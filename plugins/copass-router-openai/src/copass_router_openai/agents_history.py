"""The turns a fresh or lagging Agents API session missed, as the input it takes.

The Agents API takes only user messages as input (no assistant or tool items), so the missed
turns go as one user message before the new one, with one ``input_text`` part per earlier
message or tool step between delimiters, clearly marked as context. Reasoning and other
providers' native data never travel; tool calls and results do, as text.
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

from .parts import agents_content, agents_history_images

OPEN = "<conversation_history>"
CLOSE = "</conversation_history>"
PREAMBLE = (
    "Earlier turns of this conversation, for context only (they happened before this session"
    " saw them). The user's new message follows."
)


def history_lines(turns: Sequence[TranscriptTurn]) -> list[str]:
    """One line per message or tool step of ``turns``, between the delimiters."""
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
    return lines


def _message(texts: Sequence[str]) -> dict[str, Any]:
    content = [{"type": "input_text", "text": text} for text in texts]
    return {"type": "message", "role": "user", "content": content}


def input_messages(
    text: str, missed: Sequence[TranscriptTurn], parts: Sequence[Part] = ()
) -> list[dict[str, Any]]:
    """The turn's input: the missed history (if any) as one message with its images, then the
    user's (``parts``, when it was given as parts)."""
    messages = [_message(history_lines(missed))] if missed else []
    if messages and (images := agents_history_images(missed)):
        messages[0]["content"].extend(images)
    own = agents_content(parts) if parts else []
    messages.append({**_message([text]), "content": own} if own else _message([text]))
    return messages
