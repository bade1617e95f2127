"""The provider kit's server-sent event reading: a read's complete events together, the
format's field rules, and decoded events whose fields read as attributes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from copass_router import JsonObject, sse_fields, sse_json, sse_reads


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _events(*chunks: bytes) -> list[tuple[str | None, bytes]]:
    return [
        event
        async for complete in sse_reads(_chunks(*chunks))
        for frame in complete.split(b"\n\n")
        if (event := sse_fields(frame)) is not None
    ]


async def test_each_read_gives_its_complete_events_together() -> None:
    reads = [r async for r in sse_reads(_chunks(b"data: 1\n\ndata: 2\n\nda", b"ta: 3\n\n"))]
    assert reads == [b"data: 1\n\ndata: 2\n\n", b"data: 3\n\n"]


async def test_fields_comments_names_and_multiline_data() -> None:
    events = await _events(
        b": a comment\nevent: delta\n",
        b'data: {"a":\ndata:1}\n\n\nevent: ping\n\n',
        b"data: [DONE]",  # no blank line at the end: still an event
    )
    assert events == [("delta", b'{"a":\n1}'), ("ping", b""), (None, b"[DONE]")]


async def test_events_cut_anywhere_and_any_line_ending() -> None:
    text = b"event: a\ndata: 1\n\n: c\n\ndata: 2\ndata: 3\n\n"
    want = [("a", b"1"), (None, b"2\n3")]
    for ending in (b"\n", b"\r\n", b"\r"):
        raw = text.replace(b"\n", ending)
        for cut in range(1, len(raw)):
            assert await _events(raw[:cut], raw[cut:]) == want, (ending, cut)
        assert await _events(*(raw[i : i + 1] for i in range(len(raw)))) == want


def test_a_json_object_reads_its_fields_as_attributes() -> None:
    chunk = JsonObject({"choices": [{"delta": {"content": "hi"}}, 3], "usage": None})
    assert chunk.choices[0].delta.content == "hi" and chunk.choices[1] == 3
    assert chunk.usage is None and getattr(chunk, "model", "none") == "none"
    with pytest.raises(AttributeError):
        chunk.model  # noqa: B018 - a field it does not have
    assert chunk == {"choices": [{"delta": {"content": "hi"}}, 3], "usage": None}


def test_events_data_decoded_in_one_call_or_the_malformed_one_raises() -> None:
    assert sse_json([b'{"a": 1}', b"2", b'"x"']) == [{"a": 1}, 2, "x"]
    assert sse_json([]) == []
    with pytest.raises(json.JSONDecodeError) as alone:
        json.loads(b"{")
    with pytest.raises(json.JSONDecodeError) as together:
        sse_json([b"1", b"{"])
    assert str(together.value) == str(alone.value)  # where it is wrong in that data
