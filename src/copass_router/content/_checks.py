"""Checking a message of parts before anything is stored or sent: every refusal names the part."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from copass_router._errors import InvalidRequestError, PayloadTooLargeError
from copass_router.content._parts import FilePart, ImagePart, Part, TextPart

#: The most parts one message may have.
MAX_PARTS = 100
#: The largest image or file, in bytes (the most any provider here takes in one request).
MAX_PART_BYTES = 32 * 1024 * 1024
#: The most bytes of images and files one message may carry in all.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_URL_CHARS = 2048

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")

#: How the bytes of common media types begin: a part whose bytes say otherwise is refused
#: (every provider refuses an image whose bytes are not what its media type says).
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}


def check_message_parts(parts: Sequence[Part], max_text_chars: int) -> None:
    """Raise :class:`InvalidRequestError` (or :class:`PayloadTooLargeError`) for the first bad
    part of a message given as parts."""
    if not parts:
        raise InvalidRequestError(
            "message has no parts; give a string or at least one part", field="message"
        )
    if len(parts) > MAX_PARTS:
        raise PayloadTooLargeError(
            f"message has {len(parts)} parts; the limit is {MAX_PARTS}", field="message"
        )
    text_chars = total_bytes = 0
    for index, part in enumerate(parts):
        if isinstance(part, TextPart):
            if not isinstance(part.text, str):
                raise InvalidRequestError(
                    f"message[{index}] (text) needs its text as a string", field="message"
                )
            text_chars += len(part.text)
        else:
            check_binary_part(part, index)
            total_bytes += part.size
    if not any(not isinstance(p, TextPart) or p.text.strip() for p in parts):
        raise InvalidRequestError("message has only empty text parts", field="message")
    if text_chars > max_text_chars:
        raise PayloadTooLargeError(
            f"message text is {text_chars} characters; the limit is {max_text_chars}",
            field="message",
        )
    if total_bytes > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(
            f"message images and files are {total_bytes} bytes in all; the limit is "
            f"{MAX_MESSAGE_BYTES}",
            field="message",
        )


def check_binary_part(part: ImagePart | FilePart, index: int) -> None:
    """Raise :class:`InvalidRequestError` unless ``part`` is a well-formed image or file."""
    where = f"message[{index}] ({part.kind})"
    media_type = part.media_type
    if not media_type:
        example = "image/png" if isinstance(part, ImagePart) else "application/pdf"
        raise InvalidRequestError(f"{where} needs a media_type, e.g. {example!r}", field="message")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise InvalidRequestError(
            f"{where} has media_type {media_type!r:.60}; write it as type/subtype in lower "
            "case, e.g. 'image/png'",
            field="message",
        )
    if isinstance(part, ImagePart) and not media_type.startswith("image/"):
        raise InvalidRequestError(
            f"{where} has media_type {media_type!r}, not an image type; send it as a FilePart",
            field="message",
        )
    if part.data is not None and part.url is not None:
        raise InvalidRequestError(f"{where} has both data and a url; give one", field="message")
    if part.data is None and part.url is None:
        raise InvalidRequestError(
            f"{where} has neither data nor a url; give its bytes (or base64) or a URL",
            field="message",
        )
    if part.data is not None:
        _check_bytes(part, where)
    elif not isinstance(part.url, str) or not _is_web_url(part.url):
        raise InvalidRequestError(
            f"{where} url must be an http(s) URL of at most {MAX_URL_CHARS} characters; "
            f"got {part.url!r:.60}",
            field="message",
        )
    name = part.name if isinstance(part, FilePart) else None
    if name is not None and (
        not isinstance(name, str) or not 0 < len(name) <= 255 or not name.isprintable()
    ):
        raise InvalidRequestError(
            f"{where} name must be 1-255 printable characters; got {name!r:.60}", field="message"
        )


def _check_bytes(part: ImagePart | FilePart, where: str) -> None:
    if not isinstance(part.data, bytes):
        raise InvalidRequestError(f"{where} data must be bytes or base64 text", field="message")
    if not part.data:
        raise InvalidRequestError(f"{where} data is empty", field="message")
    if part.size > MAX_PART_BYTES:
        raise PayloadTooLargeError(
            f"{where} is {part.size} bytes; the limit is {MAX_PART_BYTES}", field="message"
        )
    signatures = _SIGNATURES.get(part.media_type)
    if signatures is not None and not part.data.startswith(signatures):
        raise InvalidRequestError(
            f"{where}: the bytes are not {part.media_type} (they do not start the way that "
            "format does); give the media type the bytes really have",
            field="message",
        )


def _is_web_url(url: str) -> bool:
    if len(url) > MAX_URL_CHARS:
        return False
    try:
        split = urlsplit(url)
    except ValueError:
        return False
    return split.scheme in ("http", "https") and bool(split.hostname)
