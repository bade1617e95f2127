"""An MCP tool result as the text a model reads.

Tool results reach every provider as text, so content a model cannot read as text becomes a
clear line saying what came back: ``[image: image/png, 1234 bytes]``, ``[audio: audio/wav, 88
bytes]``, ``[resource: file:///notes.txt, text/plain]`` followed by a text resource's text,
``[resource: file:///a.pdf, application/pdf, 5120 bytes]``, ``[resource link: file:///big.csv,
big.csv, text/csv]``. The model knows something came back and what it was; the bytes never
reach it (nor its context window). Structured content is appended as JSON when the server gave
no text. ``isError`` results become tool errors the model sees, never a failed run.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def _size(data: str) -> str:
    try:
        count = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        count = len(data.encode())
    return f"{count} bytes"


def _mime(item: Any) -> str:
    value = getattr(item, "mime_type", None) or getattr(item, "mimeType", None)
    return str(value) if value else "unknown type"


def render_block(block: Any) -> str:
    """One content block as text."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {_mime(block)}, {_size(str(getattr(block, 'data', '') or ''))}]"
    if kind == "resource":
        resource = block.resource
        uri = str(getattr(resource, "uri", ""))
        text = getattr(resource, "text", None)
        if text is not None:
            return f"[resource: {uri}, {_mime(resource)}]\n{text}"
        blob = str(getattr(resource, "blob", "") or "")
        return f"[resource: {uri}, {_mime(resource)}, {_size(blob)}]"
    if kind == "resource_link":
        name = getattr(block, "name", "") or ""
        return f"[resource link: {getattr(block, 'uri', '')}, {name}, {_mime(block)}]"
    return f"[{kind or type(block).__name__} content]"


def render_result(result: Any) -> tuple[str, bool]:
    """A ``CallToolResult`` as ``(text, is_error)``."""
    content = list(getattr(result, "content", None) or ())
    parts = [render_block(b) for b in content]
    structured = getattr(result, "structured_content", None)
    if structured is None:
        structured = getattr(result, "structuredContent", None)
    if structured is not None and not any(getattr(b, "type", "") == "text" for b in content):
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    is_error = bool(getattr(result, "is_error", None) or getattr(result, "isError", None))
    text = "\n".join(parts)
    if is_error and not text:
        text = "the MCP tool reported an error without a message"
    return text, is_error
