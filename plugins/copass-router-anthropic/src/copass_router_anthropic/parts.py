"""Message parts -> Claude content blocks: ``image`` and ``document`` with a base64 or URL
source.

Claude takes png, jpeg, gif and webp images and PDF documents, as bytes or by URL. A Managed
Agents session that starts after earlier turns gets their images and documents after the
history block, each group introduced by a line naming the turn it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from copass_router import FilePart, ImagePart, Part, PartSupport, TextPart, TranscriptTurn

#: What Claude takes in a user message.
ANTHROPIC_PARTS: Mapping[str, PartSupport] = {
    "image": PartSupport({"image/png", "image/jpeg", "image/gif", "image/webp"}, urls=True),
    "file": PartSupport({"application/pdf"}, urls=True),
}


def part_block(part: ImagePart | FilePart) -> dict[str, Any]:
    """One image or document block."""
    if part.url is not None:
        source: dict[str, Any] = {"type": "url", "url": part.url}
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": part.base64}
    block: dict[str, Any] = {"type": part.kind if part.kind == "image" else "document"}
    block["source"] = source
    if isinstance(part, FilePart) and part.name:
        block["title"] = part.name
    return block


def message_blocks(parts: Sequence[Part]) -> list[dict[str, Any]]:
    """A message of parts as content blocks, in order."""
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else part_block(p)
        for p in parts
        if not isinstance(p, TextPart) or p.text
    ]


def history_blocks(turns: Sequence[TranscriptTurn]) -> list[dict[str, Any]]:
    """The images and documents of earlier turns, each turn's introduced by a text line."""
    blocks: list[dict[str, Any]] = []
    for turn in turns:
        shown = [p for p in turn.parts if isinstance(p, ImagePart | FilePart)]
        if shown:
            blocks.append({"type": "text", "text": f"(shown by the user in turn {turn.index})"})
            blocks.extend(part_block(p) for p in shown)
    return blocks
