"""A streamed response read as server-sent events: each chunk (or event) as its decoded JSON.

The SDK's stream builds every chunk into its model through its own line reader: about 80 µs of
CPU a chunk, and a completion streams a chunk per token. Here the request is made through the
SDK (same client, body, headers, retries and errors) and its bytes are read with the core's
:func:`~copass_router.sse_reads`: the chunks of one network read are decoded in one call, each
a :class:`~copass_router.JsonObject`, whose fields read as attributes, as on the SDK's models
(what :class:`~copass_router_openai.translate.ChunkTranslator` reads). As in the SDK's stream,
``[DONE]`` ends it and an error object in it raises the SDK's ``APIError``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import openai

from copass_router import JsonObject, sse_fields, sse_json, sse_reads

from .streams import sdk_httpx

__all__ = ["ChunkStream", "open_chunk_stream"]

#: How the usual event starts: one ``data:`` line, no name.
_DATA = b"data: "


async def open_chunk_stream(request: Any, *, in_stream_errors: bool = True) -> ChunkStream:
    """Make ``request``, an SDK call through ``with_streaming_response`` (e.g.
    ``client.chat.completions.with_streaming_response.create(**body)``), and read its stream.
    Raises the SDK's errors (``APIStatusError``...) as the call without it does.

    ``in_stream_errors``: an error object in the stream raises ``APIError``, as the SDK's
    stream does for Chat Completions (its ``events`` streams, the Agents API's, pass it on).
    """
    response = await request.__aenter__()
    return ChunkStream(response, in_stream_errors=in_stream_errors)


class ChunkStream:
    """Async iteration over one streamed completion's chunks; closing it (or leaving its
    ``async with``) ends the request."""

    def __init__(self, response: Any, *, in_stream_errors: bool = True) -> None:
        self._response = response
        self._errors = in_stream_errors
        self._httpx = sdk_httpx()  # the HTTP library whose errors the SDK maps

    async def __aenter__(self) -> ChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._response.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        http = self._response.http_response
        try:
            async for chunk in self._read(http):
                yield chunk
        except self._httpx.TimeoutException as exc:  # as the SDK's stream maps them
            raise openai.APITimeoutError(request=http.request) from exc
        except (self._httpx.RequestError, ssl.SSLError) as exc:
            raise openai.APIConnectionError(request=http.request) from exc
        finally:
            await self._response.close()

    async def _read(self, http: Any) -> AsyncIterator[Any]:
        done = False
        # Read to the end after [DONE] too, as the SDK does: the connection is then kept.
        async for events in sse_reads(http.aiter_bytes()):
            if done:
                continue
            datas = []
            for event in events.split(b"\n\n"):
                if event.startswith(_DATA) and b"\n" not in event:
                    datas.append(event[len(_DATA) :])
                elif (fields := sse_fields(event)) is not None:
                    datas.append(fields[1])
            for n, data in enumerate(datas):
                if data.startswith(b"[DONE]"):
                    datas, done = datas[:n], True
                    break
            for chunk in _decoded(datas):
                if self._errors and isinstance(chunk, Mapping) and chunk.get("error"):
                    raise _stream_error(chunk["error"], http.request)
                yield chunk


def _decoded(datas: list[bytes]) -> list[Any]:
    """The chunks' JSON, decoded in one call (objects as :class:`JsonObject`)."""
    return [JsonObject(v) if type(v) is dict else v for v in sse_json(datas)]


def _stream_error(error: Any, request: Any) -> openai.APIError:
    """What the SDK's stream raises for an error object in the stream."""
    message = error.get("message") if isinstance(error, Mapping) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)
