"""Message parts -> Chat Completions content parts (``image_url``, ``file``).

OpenAI takes images as a ``data:`` URL or a web URL, and PDFs as base64 ``file_data`` with a
file name (a part without a name is sent as ``document-<sha256 prefix>.pdf``); it takes no
document by URL. OpenAI-compatible runtimes (Ollama, vLLM, llama.cpp) take images as ``data:``
URLs only, and no documents.
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
)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

#: The largest image OpenAI takes, and the most image bytes one request may carry: "Up to 20MB
#: per image", "Up to 50 MB image bytes per request" (developers.openai.com, guides/images,
#: "Image input requirements"; MB read as MiB). The size is the image's own, not its base64.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_REQUEST_BYTES = 50 * 1024 * 1024

_OPENAI_IMAGES = PartSupport(
    IMAGE_TYPES, urls=True, max_bytes=MAX_IMAGE_BYTES, max_request_bytes=MAX_IMAGE_REQUEST_BYTES
)

#: What OpenAI's Chat Completions API takes. PDFs have no size limit of their own here: the
#: file-inputs guide (guides/pdf-files) states none; the router's own limit for a part applies.
OPENAI_PARTS: Mapping[str, PartSupport] = {
    "image": _OPENAI_IMAGES,
    "file": PartSupport({"application/pdf"}),
}
#: What the OpenAI Agents API takes in a session's input message (``input_image`` only, with
#: the image limits of the Responses API above).
AGENTS_PARTS: Mapping[str, PartSupport] = {"image": _OPENAI_IMAGES}
#: What OpenAI-compatible runtimes take (vision models read images sent as data URLs). Their
#: limits are the server's (Ollama, vLLM, llama.cpp each set their own): none declared here.
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


def agents_content(parts: Sequence[Part]) -> list[dict[str, Any]]:
    """A message of parts as an Agents API input message's content (``input_text`` and
    ``input_image``), in order."""
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            url = part.url if part.url is not None else data_url(part)
            content.append({"type": "input_image", "image_url": url})
    return content


def agents_history_images(turns: Sequence[TranscriptTurn]) -> list[dict[str, Any]]:
    """The images of earlier turns as content, each turn's introduced by a text line."""
    content: list[dict[str, Any]] = []
    for turn in turns:
        shown = [p for p in turn.parts if isinstance(p, ImagePart)]
        if shown:
            content.append(
                {"type": "input_text", "text": f"(shown by the user in turn {turn.index})"}
            )
            content.extend(agents_content(shown))
    return content
