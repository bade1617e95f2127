"""Server-sent events read off a response's bytes a network read at a time, for a plugin that
reads a provider's stream itself instead of through its SDK's reader.

An SDK's own reader runs several async-generator layers per line and builds a model per event
(tens of microseconds each); a token-streaming turn has an event per token. Here each read's
complete events are handed on together (:func:`sse_reads`), an event's name and data follow
the format's field rules (:func:`sse_fields`), their data is decoded in one call
(:func:`sse_json`), and a decoded event is a :class:`JsonObject`,
whose fields read as attributes as on the SDK's models, without building one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

__all__ = ["JsonObject", "sse_fields", "sse_json", "sse_reads"]


async def sse_reads(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The complete events of each read of ``chunks`` (a response's bytes), together, with
    every line end made LF: each ends with its blank line. What the stream ends with, inside an
    event, comes last, ended the same way."""
    buffer = b""
    cr = False  # the chunk before ended in CR: its LF may open this one
    async for chunk in chunks:
        if cr:
            chunk, cr = b"\r" + chunk, False
        if b"\r" in chunk:  # CRLF or CR line ends, made LF
            if chunk.endswith(b"\r"):
                chunk, cr = chunk[:-1], True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = buffer + chunk if buffer else chunk
        end = buffer.rfind(b"\n\n")
        if end >= 0:
            complete, buffer = buffer[: end + 2], buffer[end + 2 :]
            yield complete
    if buffer.strip(b"\n"):
        yield buffer.rstrip(b"\n") + b"\n\n"


def sse_fields(event: bytes) -> tuple[str | None, bytes] | None:
    """One event's name (None: none given) and data (its ``data:`` lines joined by LF); None
    for an event with neither (comments only)."""
    kind: str | None = None
    data: list[bytes] = []
    for line in event.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"event":
            kind = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    if kind is None and not data:
        return None
    return kind, b"\n".join(data)


def sse_json(datas: Sequence[bytes]) -> list[Any]:
    """The JSON of each event's data, decoded in one call (one read's events: a call each
    costs more than the decoding). A malformed one raises as decoding it alone does."""
    if not datas:
        return []
    try:
        values: list[Any] = json.loads(b"[" + b",".join(datas) + b"]")
    except ValueError:
        values = [json.loads(data) for data in datas]  # raises at the malformed one
    return values


class JsonObject(dict[str, Any]):
    """A decoded JSON object whose fields also read as attributes (``chunk.choices[0].delta``),
    as on an SDK's models; a field it lacks raises ``AttributeError``, so ``getattr(obj,
    name, default)`` works as on a model."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        if type(value) is dict:
            return JsonObject(value)
        if type(value) is list:
            return [JsonObject(v) if type(v) is dict else v for v in value]
        return value
