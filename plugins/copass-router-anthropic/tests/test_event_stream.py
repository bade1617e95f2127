"""The session event stream read as server-sent events: text deltas as data, the rest as data
read like the SDK's models, and the SSE field rules the SDK's own reader follows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest
from copass_router_anthropic.event_stream import Data, EventStream, _server_sent
from copass_router_anthropic.translate import Translator

from copass_router import ProviderEvent, TextDelta


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _parsed(*chunks: bytes) -> list[tuple[str | None, bytes]]:
    return [item async for items in _server_sent(_chunks(*chunks)) for item in items]


async def test_fields_comments_and_multiline_data() -> None:
    parsed = await _parsed(
        b": a comment\nevent: event_delta\n",
        b'data: {"a":\ndata:1}\n\n\nevent: ping\n\n',
        b"event: session.status_idle\n",
        b'data: {"b": 2}',  # no blank line at the end: still one event
    )
    assert parsed == [
        ("event_delta", b'{"a":\n1}'),
        ("ping", b""),
        ("session.status_idle", b'{"b": 2}'),
    ]


async def test_events_cut_anywhere_across_chunks_and_any_line_ending() -> None:
    frames = b'event: event_delta\ndata: {"x":1}\n\n: c\n\nevent: a\ndata: 2\n\n'
    want = [("event_delta", b'{"x":1}'), ("a", b"2")]
    for ending in (b"\n", b"\r\n", b"\r"):
        text = frames.replace(b"\n", ending)
        for cut in range(1, len(text)):
            assert await _parsed(text[:cut], text[cut:]) == want, (ending, cut)
        assert await _parsed(*(text[i : i + 1] for i in range(len(text)))) == want


class _Response:
    """What EventStream reads: the SDK's streaming response (its httpx response's bytes)."""

    def __init__(self, *lines: str) -> None:
        self.closed = 0
        request = httpx2.Request("GET", "http://127.0.0.1/v1/sessions/s/events/stream")
        body = "".join(f"{line}\n" for line in lines).encode()
        self.http_response = httpx2.Response(200, request=request, content=_chunks(body))

    async def close(self) -> None:
        self.closed += 1


def _stream(*lines: str) -> tuple[EventStream, _Response]:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url="http://127.0.0.1:9")
    response = _Response(*lines)
    return EventStream(client, response), response


async def test_deltas_stay_data_other_events_read_as_sdk_models() -> None:
    delta = (
        '{"type":"event_delta","event_id":"m1","delta":{"type":"content_delta","index":0,'
        '"content":{"type":"text","text":"hi"}}}'
    )
    idle = '{"type":"session.status_idle","id":"e2","stop_reason":{"type":"end_turn"}}'
    stream, response = _stream(
        "event: event_delta", f"data: {delta}", "", "data: {}", "", "event: x", f"data: {idle}", ""
    )
    events: list[Any] = [e async for e in stream]
    assert events[0] == [
        {
            "type": "event_delta",
            "event_id": "m1",
            "delta": {
                "type": "content_delta",
                "index": 0,
                "content": {"type": "text", "text": "hi"},
            },
        }
    ]
    # An event without a name is skipped, as the SDK's reader does; the rest read as its
    # models would, without being built into one.
    assert len(events) == 2 and isinstance(events[1], Data)
    assert events[1].type == "session.status_idle" and events[1].stop_reason.type == "end_turn"
    assert events[1] == json.loads(idle)
    with pytest.raises(AttributeError):
        events[1].model_usage  # noqa: B018 - a field the event does not have
    assert response.closed == 1


async def test_deltas_read_together_are_decoded_together() -> None:
    def delta(text: str) -> str:
        return (
            '{"type":"event_delta","event_id":"m1","delta":{"type":"content_delta","index":0,'
            f'"content":{{"type":"text","text":"{text}"}}}}}}'
        )

    frames = [
        line for t in ("a", "b", "c") for line in ("event: event_delta", f"data: {delta(t)}", "")
    ]
    idle = '{"type":"session.status_idle","id":"e2","stop_reason":{"type":"end_turn"}}'
    stream, _ = _stream(*frames, "event: session.status_idle", f"data: {idle}", "", *frames[:3])
    events: list[Any] = [e async for e in stream]
    # One read: the three deltas in a row come as one list, the idle event between as a model.
    assert [type(e) for e in events] == [list, type(events[1]), list]
    assert [d["delta"]["content"]["text"] for d in events[0]] == ["a", "b", "c"]
    assert events[1].type == "session.status_idle" and len(events[2]) == 1
    translator = Translator()
    translator.expect(None)
    translator._previews["m1"] = {}
    assert translator.translate(events[0]) == [TextDelta(text="abc")]
    assert translator._previews["m1"] == {0: "abc"}


async def test_an_error_event_raises_the_sdk_error() -> None:
    stream, response = _stream(
        "event: error", 'data: {"type":"error","error":{"type":"overloaded_error"}}', ""
    )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        [e async for e in stream]
    assert response.closed == 1


def test_translator_reads_a_delta_as_data_and_keeps_what_it_cannot_show() -> None:
    translator = Translator()
    translator.expect(None)
    translator._previews["m1"] = {}
    text = {
        "type": "event_delta",
        "event_id": "m1",
        "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "a"}},
    }
    thinking = {
        "type": "event_delta",
        "event_id": "m1",
        "delta": {
            "type": "content_delta",
            "index": 1,
            "content": {"type": "thinking", "thinking": "b"},
        },
    }
    unknown_message = {**text, "event_id": "m9"}
    assert translator.translate([text]) == [TextDelta(text="a")]
    assert translator.translate([{**text, "id": "d1"}]) == [TextDelta(text="a")]
    assert translator.translate([{**text, "id": "d1"}]) == []  # an id counts once
    kept = translator.translate([text, thinking, text, unknown_message, text])
    # Text in a row is one delta; what cannot be shown is kept, in its place.
    assert [type(e) for e in kept] == [
        TextDelta,
        ProviderEvent,
        TextDelta,
        ProviderEvent,
        TextDelta,
    ]
    assert kept[1].provider_data == {"anthropic": thinking}
    assert translator._previews["m1"] == {0: "aaaaa"}


def test_a_delta_before_the_turn_started_is_dropped() -> None:
    translator = Translator()
    translator.expect("msg-1")
    translator._previews["m1"] = {}
    text = {
        "type": "event_delta",
        "event_id": "m1",
        "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "old"}},
    }
    assert translator.translate([text]) == []
