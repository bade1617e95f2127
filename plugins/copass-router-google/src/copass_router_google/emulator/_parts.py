"""The emulator's check of images and documents, as Gemini checks them.

An ADK message's parts (``text``, ``inline_data`` with a supported mime type and valid base64
bytes, an image of at most 7 MB, ``file_data`` with a URI) and an interaction's ``user_input``
content (``text``, ``image``, ``document`` with data or a URI). What passes becomes neutral
parts, so the scripted model's ``/parts`` can tell what arrived.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from copass_router import FilePart, ImagePart, Part, TextPart

#: The inline mime types Gemini reads.
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/pdf",
        "text/plain",
    }
)
#: What an interaction's ``image`` and ``document`` content may be.
INTERACTION_TYPES = {
    "image": frozenset(
        {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "image/gif"}
        | {"image/bmp", "image/tiff"}
    ),
    "document": frozenset({"application/pdf", "text/csv"}),
}


#: The largest inline image Gemini on Vertex AI reads (7 MB).
MAX_INLINE_IMAGE_BYTES = 7 * 1024 * 1024


class PartError(ValueError):
    """An image or document the API refuses (400 INVALID_ARGUMENT)."""


def _bytes(data: Any, where: str) -> bytes:
    try:
        return base64.b64decode(data if isinstance(data, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise PartError(
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed"
        ) from None


def _neutral(mime_type: str, data: bytes | None, uri: str | None) -> ImagePart | FilePart:
    if mime_type.startswith("image/"):
        return ImagePart(mime_type, data, uri)
    return FilePart(mime_type, data, uri)


def check_adk_message(message: Any) -> None:
    """Refuse an ADK message (a string or a Content dict) whose parts Gemini refuses."""
    if not isinstance(message, Mapping):
        return
    for n, part in enumerate(message.get("parts") or []):
        adk_part(part, f"contents.parts[{n}]")


def adk_part(part: Mapping[str, Any], where: str) -> Part | None:
    """The neutral part of one ADK/Gemini part dict (None for other kinds)."""
    if "text" in part and part["text"] is not None:
        return TextPart(str(part["text"]))
    inline = part.get("inline_data")
    if isinstance(inline, Mapping):
        mime_type = str(inline.get("mime_type") or "")
        if mime_type not in INLINE_TYPES:
            raise PartError(f"Unsupported MIME type: {mime_type or '(none)'}")
        data = _bytes(inline.get("data"), f"{where}.inline_data")
        if mime_type.startswith("image/") and len(data) > MAX_INLINE_IMAGE_BYTES:
            raise PartError(
                f"Invalid value at '{where}.inline_data': the image is {len(data)} bytes; "
                f"inline images may be at most {MAX_INLINE_IMAGE_BYTES} bytes"
            )
        return _neutral(mime_type, data, None)
    file = part.get("file_data")
    if isinstance(file, Mapping):
        uri = file.get("file_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://", "gs://")):
            raise PartError(f"Invalid value at '{where}.file_data.file_uri': a URI is required")
        return _neutral(str(file.get("mime_type") or "application/octet-stream"), None, uri)
    return None


def genai_part(part: Any) -> ImagePart | FilePart:
    """The neutral part of a checked ``types.Part`` holding ``inline_data`` or ``file_data``."""
    if part.inline_data is not None:
        inline = part.inline_data
        return _neutral(str(inline.mime_type), bytes(inline.data or b""), None)
    return _neutral(str(part.file_data.mime_type), None, str(part.file_data.file_uri))


def interaction_parts(content: Any, where: str) -> tuple[Part, ...]:
    """The parts of a ``user_input`` step's content; refuses what the API refuses."""
    items = content if isinstance(content, list) else [content]
    parts: list[Part] = []
    for n, item in enumerate(items):
        at = f"{where}.content[{n}]"
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind == "text":
            parts.append(TextPart(str(item.get("text", ""))))
            continue
        if kind not in INTERACTION_TYPES:
            raise PartError(f"{at}.type: unsupported content type {kind!r}")
        mime_type = str(item.get("mime_type") or "")
        if mime_type not in INTERACTION_TYPES[kind]:
            raise PartError(f"{at}.mime_type: {mime_type or '(none)'} is not a {kind} type")
        uri = item.get("uri")
        if uri is not None:
            parts.append(_neutral(mime_type, None, str(uri)))
        else:
            parts.append(_neutral(mime_type, _bytes(item.get("data"), at), None))
    return tuple(parts)
