"""A streamed chat completion read without the SDK's stream: its chunks as decoded JSON read
like the SDK's models, ``[DONE]`` ending it, an error object raising the SDK's ``APIError``,
the format's field rules, however the bytes are cut."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from copass_router_openai.chunk_stream import ChunkStream
from hypothesis import given
from hypothesis import strategies as st

from copass_router import JsonObject


class _Response:
    """What ChunkStream reads: the SDK's streaming response (its httpx response's bytes)."""

    def __init__(self, *chunks: bytes) -> None:
        self.closed = 0
        request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
        self.http_response = httpx2.Response(200, request=request, content=_chunks(*chunks))

    async def close(self) -> None:
        self.closed += 1


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _read(*chunks: bytes) -> list[Any]:
    async with ChunkStream(_Response(*chunks)) as stream:
        return [chunk async for chunk in stream]


def _sse(*values: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(v).encode() + b"\n\n" for v in values)


async def test_chunks_read_like_the_sdks_models_until_done() -> None:
    first = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    last = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3}}
    response = _Response(_sse(first, last) + b"data: [DONE]\n\n" + _sse({"late": 1}))
    async with ChunkStream(response) as stream:
        chunks = [chunk async for chunk in stream]
    assert chunks == [first, last] and all(isinstance(c, JsonObject) for c in chunks)
    assert chunks[0].choices[0].delta.content == "hi" and chunks[1].usage.prompt_tokens == 3
    assert getattr(chunks[0], "usage", None) is None  # what the translator asks of a model
    assert response.closed >= 1


async def test_an_error_in_the_stream_raises_the_sdks_api_error() -> None:
    error = {"message": "the model is busy", "type": "overloaded"}
    with pytest.raises(openai.APIError, match="the model is busy") as raised:
        await _read(_sse({"choices": []}, {"error": error}))
    assert raised.value.body == error
    with pytest.raises(openai.APIError, match="An error occurred during streaming"):
        await _read(_sse({"error": {"code": 3}}))


async def test_fields_names_comments_and_multiline_data() -> None:
    raw = b': keep-alive\n\nevent: chunk\ndata: {"a":\ndata: 1}\n\ndata: {"b": 2}'
    assert await _read(raw) == [{"a": 1}, {"b": 2}]


@given(
    st.lists(st.dictionaries(st.text(), st.text() | st.integers()), min_size=1, max_size=6),
    st.lists(st.integers(0, 2000), max_size=4),
    st.sampled_from([b"\n", b"\r\n"]),
)
async def test_chunks_cut_anywhere_read_as_each_ones_json(
    values: list[dict[str, Any]], cuts: list[int], ending: bytes
) -> None:
    values = [v for v in values if not v.get("error")]
    raw = (_sse(*values) + b"data: [DONE]\n\n").replace(b"\n", ending)
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert await _read(*[p for p in pieces if p]) == values


async def test_an_events_stream_passes_error_objects_on() -> None:
    # The Agents API's streams are the SDK's "events" streams: an object with an error is an
    # event like any other there (the translator reads it), not the stream's failure.
    failed = {"type": "agent.session.failed", "error": {"message": "no"}}
    async with ChunkStream(_Response(_sse(failed)), in_stream_errors=False) as stream:
        assert [event async for event in stream] == [failed]
