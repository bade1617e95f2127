"""The emulator's check of ``user.message`` content blocks, as the Claude API checks them.

``text``, ``image`` (a base64 source of png, jpeg, gif or webp whose bytes are that type and
whose base64 is at most 5 MB, or a URL source) and ``document`` (a base64 PDF, plain text, or
a URL source). What passes becomes neutral parts, so the scripted model's ``/parts`` can tell
what arrived.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from copass_router import FilePart, ImagePart

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: The longest base64 an image may have: the API answers "image exceeds 5 MB maximum".
MAX_IMAGE_BASE64 = 5 * 1024 * 1024
_MAGIC = {
    "image/png": b"\x89PNG",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
    "image/webp": b"RIFF",
}


class BlockError(ValueError):
    """A content block the API refuses (rendered as ``invalid_request_error``)."""


def _decoded(data: Any, where: str) -> bytes:
    try:
        return base64.b64decode(data if isinstance(data, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise BlockError(f"{where}.source.data: invalid base64 data") from None


def _url(source: Mapping[str, Any], where: str) -> str:
    url = source.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BlockError(f"{where}.source.url: must be an http(s) URL")
    return url


def block_part(block: Mapping[str, Any], where: str) -> ImagePart | FilePart | None:
    """The part an ``image`` or ``document`` block carries (None for a text block); refuses a
    block the API refuses."""
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise BlockError(f"{where}.text: Field required")
        return None
    if kind not in ("image", "document"):
        raise BlockError(
            f"{where}.type: Input tag {kind!r} found using 'type' does not match any of the "
            "expected tags: 'text', 'image', 'document'"
        )
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise BlockError(f"{where}.source: Field required")
    stype, media_type = source.get("type"), source.get("media_type")
    if stype == "url":
        url = _url(source, where)
        return (
            ImagePart("image/png", url=url)
            if kind == "image"
            else FilePart("application/pdf", url=url, name=block.get("title"))
        )
    if kind == "image":
        if stype != "base64":
            raise BlockError(f"{where}.source.type: expected 'base64' or 'url'")
        if media_type not in IMAGE_TYPES:
            raise BlockError(
                f"{where}.source.media_type: Input should be {', '.join(map(repr, IMAGE_TYPES))}"
            )
        encoded = source.get("data")
        if isinstance(encoded, str) and len(encoded) > MAX_IMAGE_BASE64:
            raise BlockError(
                f"{where}.source.base64: image exceeds 5 MB maximum: {len(encoded)} bytes > "
                f"{MAX_IMAGE_BASE64} bytes"
            )
        data = _decoded(encoded, where)
        if not data.startswith(_MAGIC[media_type]):
            raise BlockError(f"{where}: Image does not match the provided media type {media_type}")
        return ImagePart(media_type, data)
    if stype == "text" and media_type == "text/plain":
        text = source.get("data")
        return FilePart("text/plain", str(text).encode(), name=block.get("title"))
    if stype != "base64" or media_type != "application/pdf":
        raise BlockError(f"{where}.source: a document is a base64 PDF, plain text or a URL")
    data = _decoded(source.get("data"), where)
    if not data.startswith(b"%PDF-"):
        raise BlockError(f"{where}: The PDF specified was not valid.")
    return FilePart("application/pdf", data, name=block.get("title"))
