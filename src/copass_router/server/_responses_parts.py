"""Open Responses content parts -> message parts: ``input_text``, ``input_image`` (a base64
``data:`` URL or a web URL) and ``input_file`` (``file_data`` as a ``data:`` URL, or
``file_url``). What has no part here (``file_id``: files uploaded elsewhere) is refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copass_router._errors import InvalidRequestError
from copass_router.content._parts import FilePart, ImagePart, Part, TextPart, decode_base64

#: The media type of a web URL's image, by its file name's extension.
_EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_EXTENSIONS |= {".gif": "image/gif", ".webp": "image/webp", ".pdf": "application/pdf"}


def _data_url(url: str, where: str) -> tuple[str, bytes]:
    head, comma, payload = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64") and comma):
        raise InvalidRequestError(f"{where} must be a base64 data: URL or a web URL", field=where)
    return head[5:-7], decode_base64(payload, where)


def _by_url(url: str, where: str) -> str:
    path = url.split("?", 1)[0].lower()
    for extension, media_type in _EXTENSIONS.items():
        if path.endswith(extension):
            return media_type
    raise InvalidRequestError(
        f"{where}: the media type of {url!r:.80} cannot be told from its name; send it as a "
        "base64 data: URL",
        field=where,
    )


def _image(part: Mapping[str, Any], where: str) -> ImagePart:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"{where}: an input_image needs an image_url", field=where)
    if url.startswith("data:"):
        media_type, data = _data_url(url, where)
        return ImagePart(media_type, data)
    return ImagePart(_by_url(url, where), url=url)


def _file(part: Mapping[str, Any], where: str) -> FilePart:
    name = part.get("filename")
    name = name if isinstance(name, str) and name else None
    if isinstance(part.get("file_data"), str):
        data = part["file_data"]
        if data.startswith("data:"):
            media_type, raw = _data_url(data, where)
        else:  # bare base64: the file name says what it is
            media_type, raw = _by_url(name or "", where), decode_base64(data, where)
        return FilePart(media_type, raw, name=name)
    if isinstance(part.get("file_url"), str):
        return FilePart(_by_url(part["file_url"], where), url=part["file_url"], name=name)
    raise InvalidRequestError(
        f"{where}: an input_file needs file_data or file_url (this router keeps no uploaded "
        "files, so file_id is not taken)",
        field=where,
    )


def content_parts(content: Any, where: str) -> list[Part]:
    """The parts of one message's ``content`` (a string is one text part)."""
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a string or parts", field=where)
    parts: list[Part] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
        if kind == "input_text" and isinstance(part, Mapping):
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"{where}: an input_text part needs text", field=where)
            parts.append(TextPart(text))
        elif kind == "input_image" and isinstance(part, Mapping):
            parts.append(_image(part, where))
        elif kind == "input_file" and isinstance(part, Mapping):
            parts.append(_file(part, where))
        else:
            raise InvalidRequestError(
                f"{where} has a {kind!r} part; this router takes input_text, input_image and "
                "input_file parts",
                field=where,
            )
    return parts
