"""The turns a fresh or lagging Agents API session missed, as the input it takes.

The Agents API takes only user messages as input (no assistant or tool items), so the missed
turns go as one user message before the new one: the core's history block (one JSON message per
line, so no message can break out of it), then the images of those turns. Reasoning and other
providers' native data never travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from copass_router import Part, TranscriptTurn, history_block

from .parts import agents_content, agents_history_images


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def input_messages(
    text: str, missed: Sequence[TranscriptTurn], parts: Sequence[Part] = ()
) -> list[dict[str, Any]]:
    """The turn's input: the missed history (if any) as one message with its images, then the
    user's (``parts``, when it was given as parts)."""
    block = history_block(missed)
    messages = [_message(block)] if block else []
    if messages and (images := agents_history_images(missed)):
        messages[0]["content"].extend(images)
    own = agents_content(parts) if parts else []
    messages.append({**_message(text), "content": own} if own else _message(text))
    return messages
