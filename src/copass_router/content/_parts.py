"""Message parts: what a user's message is made of when it is more than one string.

A message is a string or a sequence of parts: :class:`TextPart`, :class:`ImagePart` (a photo,
a screenshot) and :class:`FilePart` (a PDF or another document). An image or a file carries
its bytes (given as bytes or as base64 text) or a URL, always with its media type. Bytes are
content-addressed: ``sha256`` names them, which is how the transcript keeps them (see
:mod:`copass_router.content._blobs`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from copass_router._errors import InvalidRequestError

#: The kinds of part, by their wire name (``{"type": "image", ...}``).
PART_KINDS = ("text", "image", "file")


def decode_base64(value: str, where: str) -> bytes:
    """The bytes ``value`` spells in standard base64 (a ``data:`` URL's payload too), or a
    clear :class:`InvalidRequestError` naming ``where``."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"{where}.data is not valid base64 (standard alphabet, padded); encode the bytes "
            "with base64.b64encode, or pass them as bytes",
            field="message",
        ) from None


def _bytes_or_base64(value: Any) -> Any:
    # Base64 text becomes bytes here; a bad string is refused at once, naming the field.
    if isinstance(value, str):
        return decode_base64(value, "part")
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def _bytes_repr(data: bytes | None) -> str:
    return "None" if data is None else f"<{len(data)} bytes>"


@attrs.frozen
class TextPart:
    """Text in a message of parts."""

    text: str

    @property
    def kind(self) -> str:
        """``text``."""
        return "text"


@attrs.frozen
class _BinaryPart:
    """What an image and a file share: a media type and bytes, a URL, or a stored reference.

    ``data`` may be given as bytes or base64 text. ``sha256`` and ``size`` are filled from the
    bytes; a part read back from the transcript before its bytes are loaded carries only them.
    """

    media_type: str
    data: bytes | None = attrs.field(default=None, converter=_bytes_or_base64, repr=_bytes_repr)
    url: str | None = None
    sha256: str = ""
    size: int = 0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.data, bytes):
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())
            object.__setattr__(self, "size", len(self.data))

    @property
    def kind(self) -> str:
        """``image`` or ``file``."""
        raise NotImplementedError

    @property
    def base64(self) -> str:
        """The bytes as standard base64 text (empty for a part given by URL)."""
        return base64.b64encode(self.data).decode("ascii") if self.data is not None else ""

    @property
    def loaded(self) -> bool:
        """False for a transcript reference whose bytes have not been read back yet."""
        return self.data is not None or self.url is not None

    def describe(self) -> str:
        """A short description for errors and logs: kind, media type, size or URL host."""
        where = f"{self.size} bytes" if self.data is not None or self.sha256 else "by URL"
        return f"{self.kind} ({self.media_type}, {where})"


@attrs.frozen
class ImagePart(_BinaryPart):
    """An image (``image/png``, ``image/jpeg``, ``image/gif``, ``image/webp``)."""

    @property
    def kind(self) -> str:
        """``image``."""
        return "image"


@attrs.frozen
class FilePart(_BinaryPart):
    """A document (``application/pdf``, ``text/plain``, ...). ``name`` is its file name, if
    the provider shows one to the model."""

    name: str | None = None

    @property
    def kind(self) -> str:
        """``file``."""
        return "file"


Part = TextPart | ImagePart | FilePart


def part_from(value: Any, index: int) -> Part:
    """A part from a part or its JSON form (``{"type": "image", "media_type": ...,
    "data": <base64> | "url": ...}``); anything else is refused, naming part ``index``."""
    if isinstance(value, TextPart | ImagePart | FilePart):
        return value
    if isinstance(value, str):
        return TextPart(value)
    where = f"message[{index}]"
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"{where} is a {type(value).__name__}; a part is a TextPart, ImagePart or FilePart "
            'or a dict like {"type": "image", "media_type": "image/png", "data": "<base64>"}',
            field="message",
        )
    kind = value.get("type")
    if kind not in PART_KINDS:
        raise InvalidRequestError(
            f"{where} has unknown type {kind!r}; a part's type is one of {', '.join(PART_KINDS)}",
            field="message",
        )
    allowed = {"text": {"type", "text"}, "image": {"type", "media_type", "data", "url"}}.get(
        kind, {"type", "media_type", "data", "url", "name"}
    )
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidRequestError(
            f"{where} ({kind}) has unknown key {unknown[0]!r}; "
            f"its keys: {', '.join(sorted(allowed))}",
            field="message",
        )
    if kind == "text":
        text: Any = value.get("text")
        return TextPart(text)
    data = value.get("data")
    if isinstance(data, str):
        data = decode_base64(data, where)
    media_type: Any = value.get("media_type")
    if kind == "image":
        return ImagePart(media_type, data, value.get("url"))
    return FilePart(media_type, data, value.get("url"), name=value.get("name"))


def part_to_json(part: Part) -> dict[str, Any]:
    """A part in its JSON form (bytes as base64), as :func:`part_from` reads it back."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    data: dict[str, Any] = {"type": part.kind, "media_type": part.media_type}
    if part.url is not None:
        data["url"] = part.url
    else:
        data["data"] = part.base64
    if isinstance(part, FilePart) and part.name is not None:
        data["name"] = part.name
    return data


def message_parts(value: Any) -> Any:
    """The converter of ``RunRequest.message``: a string stays a string; a list of parts (or
    their dicts) becomes a tuple of parts. Other shapes reach the request check."""
    if isinstance(value, list | tuple):
        return tuple(part_from(item, i) for i, item in enumerate(value))
    return value


def message_text(message: str | Sequence[Part]) -> str:
    """The text of a message: the string, or its text parts joined by blank lines."""
    if isinstance(message, str):
        return message
    return "\n\n".join(p.text for p in message if isinstance(p, TextPart))


def binary_parts(message: str | Sequence[Part]) -> tuple[ImagePart | FilePart, ...]:
    """The images and files of a message (none for a string)."""
    if isinstance(message, str):
        return ()
    return tuple(p for p in message if isinstance(p, ImagePart | FilePart))
