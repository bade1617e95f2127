"""AG-UI user message content -> the run's message: text parts, and ``image`` / ``document``
media parts whose ``source`` is ``data`` (base64 bytes with their ``mimeType``) or ``url``.

A ``file`` source (a handle another provider issued) carries no bytes the router could send,
and audio and video have no part here: both are refused, naming the part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copass_router._errors import InvalidRequestError
from copass_router.content._parts import FilePart, ImagePart, Part, TextPart, decode_base64

_FIELD = "messages"


def _media(part: Mapping[str, Any], where: str) -> ImagePart | FilePart:
    source = part.get("source")
    if not isinstance(source, Mapping):
        raise InvalidRequestError(
            f"{where}: a {part.get('type')} part needs a source", field=_FIELD
        )
    kind, value = source.get("type"), source.get("value")
    mime_type = source.get("mimeType", source.get("mime_type"))
    cls = ImagePart if part.get("type") == "image" else FilePart
    if kind == "data" and isinstance(value, str):
        return cls(mime_type or "", decode_base64(value, where))
    if kind == "url" and isinstance(value, str):
        if not isinstance(mime_type, str) or not mime_type:
            raise InvalidRequestError(
                f"{where}: a url source needs its mimeType here (the router sends the URL on "
                "without reading it)",
                field=_FIELD,
            )
        return cls(mime_type, url=value)
    raise InvalidRequestError(
        f"{where}: the router takes data and url sources; a {kind!r} source names bytes only "
        "the provider that issued it can read",
        field=_FIELD,
    )


def user_message(message: Mapping[str, Any]) -> str | list[Part]:
    """The run's message from the last user message: its text, or its parts when it has
    images or documents."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(
            "the user message's content must be a string or a list of parts", field=_FIELD
        )
    parts: list[Part] = []
    for index, part in enumerate(content):
        where = f"the user message's content[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part, Mapping):
            parts.append(TextPart(str(part.get("text", ""))))
        elif kind in ("image", "document") and isinstance(part, Mapping):
            parts.append(_media(part, where))
        else:
            raise InvalidRequestError(
                f"{where} is a {kind!r} part; the router takes text, image and document parts",
                field=_FIELD,
            )
    if all(isinstance(p, TextPart) for p in parts):
        return "\n".join(p.text for p in parts if isinstance(p, TextPart))
    return parts
