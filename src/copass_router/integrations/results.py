"""An MCP tool result as the text a model reads.

Text blocks pass as they are; images, audio and resources become a clear line saying what they
are (type, size, URI) so the model knows something came back that it cannot see; structured
content is appended as JSON when the server gave no text. ``isError`` results become tool
errors the model sees, never a failed run.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def _size(data: str) -> str:
    try:
        count = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        count = len(data)
    return f"{count} bytes"


def render_block(block: Any) -> str:
    """One content block as text."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    mime = getattr(block, "mime_type", None) or getattr(block, "mimeType", None) or "?"
    if kind in ("image", "audio"):
        return f"[{kind} {mime}, {_size(str(getattr(block, 'data', '')))}: not shown here]"
    if kind == "resource":
        resource = block.resource
        uri = str(getattr(resource, "uri", ""))
        text = getattr(resource, "text", None)
        mime = getattr(resource, "mime_type", None) or getattr(resource, "mimeType", None) or "?"
        if text is not None:
            return f"[resource {uri} ({mime})]\n{text}"
        return f"[resource {uri} ({mime}), {_size(str(getattr(resource, 'blob', '')))}]"
    if kind == "resource_link":
        return f"[resource link {getattr(block, 'uri', '')}: {getattr(block, 'name', '')}]"
    return f"[{kind or type(block).__name__} content]"


def render_result(result: Any) -> tuple[str, bool]:
    """A ``CallToolResult`` as ``(text, is_error)``."""
    content = list(getattr(result, "content", None) or ())
    parts = [render_block(b) for b in content]
    structured = getattr(result, "structured_content", None)
    if structured is None:
        structured = getattr(result, "structuredContent", None)
    if structured is not None and not any(getattr(b, "type", "") == "text" for b in content):
        parts.append(json.dumps(structured, ensure_ascii=False))
    is_error = bool(getattr(result, "is_error", None) or getattr(result, "isError", None))
    text = "\n".join(parts)
    if is_error and not text:
        text = "the MCP tool reported an error without a message"
    return text, is_error
