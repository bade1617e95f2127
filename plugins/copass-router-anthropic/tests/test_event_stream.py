"""The session event stream read as server-sent events: text deltas as data, the rest as SDK
models, and the SSE field rules the SDK's own reader follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest
from copass_router_anthropic.event_stream import EventStream, _server_sent
from copass_router_anthropic.translate import Translator

from copass_router import ProviderEvent, TextDelta


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _parsed(*lines: str) -> list[tuple[str | None, str]]:
    return [item async for item in _server_sent(_lines(*lines))]


async def test_fields_comments_and_multiline_data() -> None:
    parsed = await _parsed(
        ": a comment",
        "event: event_delta",
        'data: {"a":',
        "data:1}",
        "",
        "",
        "event: ping",
        "",
        "event: session.status_idle",
        'data: {"b": 2}',  # no blank line at the end: still one event
    )
    assert parsed == [
        ("event_delta", '{"a":\n1}'),
        ("ping", ""),
        ("session.status_idle", '{"b": 2}'),
    ]


class _Response:
    """What EventStream reads: the SDK's streaming response (lines, its httpx response)."""

    def __init__(self, *lines: str) -> None:
        self.lines = lines
        self.closed = 0
        request = httpx2.Request("GET", "http://127.0.0.1/v1/sessions/s/events/stream")
        self.http_response = httpx2.Response(200, request=request)

    def iter_lines(self) -> AsyncIterator[str]:
        return _lines(*self.lines)

    async def close(self) -> None:
        self.closed += 1


def _stream(*lines: str) -> tuple[EventStream, _Response]:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url="http://127.0.0.1:9")
    response = _Response(*lines)
    return EventStream(client, response), response


async def test_deltas_stay_data_other_events_are_sdk_models() -> None:
    delta = (
        '{"type":"event_delta","event_id":"m1","delta":{"type":"content_delta","index":0,'
        '"content":{"type":"text","text":"hi"}}}'
    )
    idle = '{"type":"session.status_idle","id":"e2","stop_reason":{"type":"end_turn"}}'
    stream, response = _stream(
        "event: event_delta", f"data: {delta}", "", "data: {}", "", "event: x", f"data: {idle}", ""
    )
    events: list[Any] = [e async for e in stream]
    assert events[0] == {
        "type": "event_delta",
        "event_id": "m1",
        "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "hi"}},
    }
    # An event without a name is skipped, as the SDK's reader does; the rest are its models.
    assert len(events) == 2 and isinstance(events[1], anthropic.BaseModel)
    assert events[1].type == "session.status_idle"
    assert response.closed == 1


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
    assert translator.translate(text) == [TextDelta(text="a")]
    assert translator.translate({**text, "id": "d1"}) == [TextDelta(text="a")]
    assert translator.translate({**text, "id": "d1"}) == []  # an id counts once
    kept = translator.translate(thinking) + translator.translate(unknown_message)
    assert [type(e) for e in kept] == [ProviderEvent, ProviderEvent]
    assert kept[0].provider_data == {"anthropic": thinking}
    assert translator._previews["m1"] == {0: "aa"}


def test_a_delta_before_the_turn_started_is_dropped() -> None:
    translator = Translator()
    translator.expect("msg-1")
    translator._previews["m1"] = {}
    text = {
        "type": "event_delta",
        "event_id": "m1",
        "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "old"}},
    }
    assert translator.translate(text) == []
