"""The emulator's check of a user message's content parts, as OpenAI checks them.

Text, ``image_url`` (a ``data:`` URL of png, jpeg, gif or webp in valid base64, of at most
20 MB, or a web URL)
and ``file`` (base64 ``file_data`` as a PDF ``data:`` URL, with a ``filename``). What passes
becomes neutral parts, so the scripted model's ``/parts`` can tell what arrived.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from copass_router import FilePart, ImagePart, Part, TextPart

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: The largest image the API takes ("below 20 MB in size").
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class PartError(ValueError):
    """A content part OpenAI refuses: the message and the ``param`` it names."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _data_url(url: str, param: str, what: str) -> tuple[str, bytes]:
    head, comma, payload = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64") and comma):
        raise PartError(f"Invalid {what}: expected a base64-encoded data URL.", param)
    try:
        return head[5:-7], base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PartError(f"Invalid {what}: the base64 data could not be decoded.", param) from None


def _image(part: Mapping[str, Any], param: str) -> ImagePart:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else None
    if not isinstance(url, str) or not url:
        raise PartError(f"Missing required parameter: '{param}.image_url.url'.", param)
    if url.startswith(("http://", "https://")):
        return ImagePart("image/png", url=url)  # the real API reads the type from the response
    media_type, data = _data_url(url, f"{param}.image_url.url", "image data")
    if media_type not in IMAGE_TYPES:
        raise PartError(
            f"Invalid MIME type {media_type!r}. Supported image formats: {', '.join(IMAGE_TYPES)}.",
            f"{param}.image_url.url",
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise PartError(
            "You uploaded an unsupported image. Please make sure your image is below 20 MB in "
            "size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
            f"{param}.image_url.url",
        )
    return ImagePart(media_type, data)


def _file(part: Mapping[str, Any], param: str) -> FilePart:
    file = part.get("file")
    if not isinstance(file, Mapping) or "file_data" not in file:
        raise PartError(f"Missing required parameter: '{param}.file.file_data'.", param)
    if not isinstance(file.get("filename"), str) or not file["filename"]:
        raise PartError(f"Missing required parameter: '{param}.file.filename'.", param)
    media_type, data = _data_url(str(file["file_data"]), f"{param}.file.file_data", "file data")
    if media_type != "application/pdf" or not data.startswith(b"%PDF-"):
        raise PartError(
            "Invalid file data: only PDF files are supported as file input.",
            f"{param}.file.file_data",
        )
    return FilePart(media_type, data, name=file["filename"])


def user_parts(content: Any, index: int) -> tuple[Part, ...]:
    """The parts of a user message's ``content`` (none for a string)."""
    if not isinstance(content, list):
        return ()
    parts: list[Part] = []
    for n, part in enumerate(content):
        param = f"messages[{index}].content[{n}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append(TextPart(str(part.get("text", ""))))
        elif kind == "image_url":
            parts.append(_image(part, param))
        elif kind == "file":
            parts.append(_file(part, param))
        else:
            raise PartError(
                f"Invalid value: {kind!r}. Supported values are: 'text', 'image_url', "
                "'input_audio', 'refusal', and 'file'.",
                f"{param}.type",
            )
    return tuple(parts)


def agents_input_parts(content: Any, where: str) -> tuple[Part, ...]:
    """The parts of an Agents API input message's content (``input_text``, ``input_image``
    with a web URL or a base64 image ``data:`` URL); refuses what the API refuses."""
    if not isinstance(content, list):
        raise PartError("'content' must be a list of input content.", where)
    parts: list[Part] = []
    for n, item in enumerate(content):
        param = f"{where}.content[{n}]"
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind == "input_text":
            parts.append(TextPart(str(item.get("text", ""))))
        elif kind == "input_image":
            parts.append(_image({"image_url": {"url": item.get("image_url")}}, param))
        else:
            raise PartError(
                f"Invalid value: {kind!r}. Supported values are: 'input_text' and 'input_image'.",
                f"{param}.type",
            )
    return tuple(parts)
