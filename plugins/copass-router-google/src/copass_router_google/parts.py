"""Message parts -> Gemini's own: ``inline_data`` / ``file_data`` parts of an ADK message, and
``image`` / ``document`` content of an interaction's ``user_input`` step.

An ADK message with images or documents is a Content (``{"role": "user", "parts": [...]}``)
instead of a string: first the images and documents of the turns the ADK session missed, each
turn's introduced by a text line, then the text (with the history block in front), then the
message's own images and documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from copass_router import (
    ChatMessage,
    FilePart,
    ImagePart,
    Part,
    PartSupport,
    TextPart,
    TranscriptTurn,
    history_block,
)

_GEMINI_IMAGES = {"image/png", "image/jpeg", "image/webp"}

#: The largest inline image and document a Gemini model on Vertex AI (behind an ADK agent)
#: takes: "Maximum file size per file for inline data ...: 7 MB" (cloud.google.com, vertex-ai
#: generative-ai docs, multimodal/image-understanding) and "Maximum file size per file for the
#: API or Cloud Storage imports: 50 MB" (multimodal/document-understanding); MB read as MiB.
ADK_MAX_IMAGE_BYTES = 7 * 1024 * 1024
ADK_MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
#: The Gemini API (Interactions): up to 100 MB of base64 inline data in one request (raised
#: from 20 MB; ai.google.dev/gemini-api/docs/file-input-methods, and the Gemini API blog post
#: "Increased file size limits and expanded inputs support", January 2026), so 3/4 of that as
#: decoded bytes; PDFs "are limited to 50MB" (the same page).
INTERACTIONS_MAX_REQUEST_BYTES = 100 * 1024 * 1024 * 3 // 4
INTERACTIONS_MAX_DOCUMENT_BYTES = 50 * 1024 * 1024

#: What a Gemini model behind an ADK agent takes (inline bytes, or a URL it reads).
ADK_PARTS: Mapping[str, PartSupport] = {
    "image": PartSupport(_GEMINI_IMAGES, urls=True, max_bytes=ADK_MAX_IMAGE_BYTES),
    "file": PartSupport(
        {"application/pdf", "text/plain"}, urls=True, max_bytes=ADK_MAX_DOCUMENT_BYTES
    ),
}
#: What the Interactions API takes as ``image`` and ``document`` content.
INTERACTIONS_PARTS: Mapping[str, PartSupport] = {
    "image": PartSupport(
        {*_GEMINI_IMAGES, "image/gif"},
        urls=True,
        max_request_bytes=INTERACTIONS_MAX_REQUEST_BYTES,
    ),
    "file": PartSupport(
        {"application/pdf", "text/csv"},
        urls=True,
        max_bytes=INTERACTIONS_MAX_DOCUMENT_BYTES,
        max_request_bytes=INTERACTIONS_MAX_REQUEST_BYTES,
    ),
}


def _binary(parts: Sequence[Part]) -> list[ImagePart | FilePart]:
    return [p for p in parts if isinstance(p, ImagePart | FilePart)]


def adk_part(part: ImagePart | FilePart) -> dict[str, Any]:
    """One ``inline_data`` or ``file_data`` part."""
    if part.url is not None:
        return {"file_data": {"file_uri": part.url, "mime_type": part.media_type}}
    return {"inline_data": {"mime_type": part.media_type, "data": part.base64}}


def adk_message(
    message: str, parts: Sequence[Part], history: Sequence[TranscriptTurn]
) -> str | dict[str, Any]:
    """The ``message`` of ``async_stream_query``: the text (the core's history block for the
    missed ``history``, a blank line, then ``message``) alone, or a Content when the turn or its
    missed history has images or documents."""
    block = history_block(history)
    text = f"{block}\n\n{message}" if block else message
    earlier = [(turn.index, _binary(turn.parts)) for turn in history]
    own = _binary(parts)
    if not own and not any(shown for _, shown in earlier):
        return text
    content: list[dict[str, Any]] = []
    for index, shown in earlier:
        if shown:
            content.append({"text": f"(shown by the user in turn {index})"})
            content.extend(adk_part(p) for p in shown)
    content.append({"text": text})
    content.extend(adk_part(p) for p in own)
    return {"role": "user", "parts": content}


def interaction_block(part: ImagePart | FilePart) -> dict[str, Any]:
    """One ``image`` or ``document`` content item."""
    block: dict[str, Any] = {"type": "image" if part.kind == "image" else "document"}
    if part.url is not None:
        block["uri"] = part.url
    else:
        block["data"] = part.base64
    block["mime_type"] = part.media_type
    return block


def user_content(message: ChatMessage) -> list[dict[str, Any]]:
    """A user message as ``user_input`` content: its text, or its parts in order."""
    if not message.parts:
        return [{"type": "text", "text": message.text}]
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else interaction_block(p)
        for p in message.parts
        if not isinstance(p, TextPart) or p.text
    ]
