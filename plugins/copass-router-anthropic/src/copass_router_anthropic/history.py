"""The transcript a fresh Anthropic session missed, as context for its first user message.

Managed Agents sessions hold their own conversation; a session that starts after earlier turns
(on this provider under another configuration, or on another provider) is told what happened
in the core's history block (one JSON message per line, so no message can break out of it), a
text block of its own before the user's message, then the images and documents of those turns.
Thinking and provider-specific data never travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from copass_router import Part, TranscriptTurn, history_block

from .parts import history_blocks, message_blocks


def user_message(
    text: str, missed: Sequence[TranscriptTurn], parts: Sequence[Part] = ()
) -> dict[str, Any]:
    """The ``user.message`` event for a turn: the missed history (if any) with its images and
    documents, then the message (``parts``, when it was given as parts)."""
    block = history_block(missed)
    content = [{"type": "text", "text": block}] if block else []
    content.extend(history_blocks(missed))
    content.extend(message_blocks(parts) if parts else [{"type": "text", "text": text}])
    return {"type": "user.message", "content": content}
