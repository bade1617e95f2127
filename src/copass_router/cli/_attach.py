"""``copass-router run --attach PATH``: images and files beside the message, as its parts."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path

from copass_router._errors import RouterError
from copass_router.content._parts import FilePart, ImagePart, Part, TextPart


def _media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        raise RouterError(
            f"--attach {name}: cannot tell its media type from its name; give the file an "
            "extension such as .png, .jpg or .pdf"
        )
    return guessed


def _part(source: str) -> ImagePart | FilePart:
    media_type = _media_type(source.split("?", 1)[0])
    cls = ImagePart if media_type.startswith("image/") else FilePart
    if source.startswith(("https://", "http://")):
        return cls(media_type, url=source)
    path = Path(source).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RouterError(f"--attach {source}: cannot read it ({exc.strerror})") from None
    if cls is FilePart:
        return FilePart(media_type, data, name=path.name)
    return ImagePart(media_type, data)


def with_attachments(text: str, sources: Sequence[str]) -> str | list[Part]:
    """``text`` alone, or followed by a part per ``--attach`` (a path or an http(s) URL)."""
    if not sources:
        return text
    return [TextPart(text), *(_part(s) for s in sources)]
