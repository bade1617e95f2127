"""Message parts -> Chat Completions content parts (``image_url``, ``file``).

OpenAI takes images as a ``data:`` URL or a web URL, and PDFs as base64 ``file_data`` with a
file name (a part without a name is sent as ``document-<sha256 prefix>.pdf``); it takes no
document by URL. OpenAI-compatible runtimes (Ollama, vLLM, llama.cpp) take images as ``data:``
URLs only, and no documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copass_router import ChatMessage, FilePart, ImagePart, PartSupport, TextPart

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

#: What OpenAI's Chat Completions API takes.
OPENAI_PARTS: Mapping[str, PartSupport] = {
    "image": PartSupport(IMAGE_TYPES, urls=True),
    "file": PartSupport({"application/pdf"}),
}
#: What OpenAI-compatible runtimes take (vision models read images sent as data URLs).
COMPATIBLE_PARTS: Mapping[str, PartSupport] = {"image": PartSupport(IMAGE_TYPES)}


def data_url(part: ImagePart | FilePart) -> str:
    """The part's bytes as a ``data:`` URL."""
    return f"data:{part.media_type};base64,{part.base64}"


def wire_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A user message's ``content``: its text, or its parts in order."""
    if not message.parts:
        return message.text
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            url = part.url if part.url is not None else data_url(part)
            content.append({"type": "image_url", "image_url": {"url": url}})
        else:
            name = part.name or f"document-{part.sha256[:12]}.pdf"
            file = {"file_data": data_url(part), "filename": name}
            content.append({"type": "file", "file": file})
    return content
