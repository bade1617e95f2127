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

#: The largest image Claude takes, in bytes as decoded. The API refuses an image whose base64
#: is over 5 MB ("image exceeds 5 MB maximum: <n> bytes > 5242880 bytes", measured on the
#: base64 text; docs.anthropic.com/en/docs/build-with-claude/vision, "image exceeds 5 MB
#: maximum" in the API's 400 answers), so the decoded bytes may be 3/4 of that: 3.75 MiB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024 * 3 // 4
#: The most bytes of images and documents one request carries, as decoded: the Messages API
#: takes requests of up to 32 MB (docs.anthropic.com/en/docs/build-with-claude/pdf-support,
#: "Maximum request size: 32MB"; the vision page says the same), base64 makes them 4/3 larger.
MAX_REQUEST_BYTES = 32 * 1024 * 1024 * 3 // 4

#: What Claude takes in a user message.
ANTHROPIC_PARTS: Mapping[str, PartSupport] = {
    "image": PartSupport(
        {"image/png", "image/jpeg", "image/gif", "image/webp"},
        urls=True,
        max_bytes=MAX_IMAGE_BYTES,
        max_request_bytes=MAX_REQUEST_BYTES,
    ),
    "file": PartSupport(
        {"application/pdf"},
        urls=True,
        max_bytes=MAX_REQUEST_BYTES,
        max_request_bytes=MAX_REQUEST_BYTES,
    ),
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
