"""The session event stream read as server-sent events: text deltas as data, the rest as data
read like the SDK's models, and the SSE field rules the SDK's own reader follows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest
from copass_router_anthropic.event_stream import (
    RUN,
    EventStream,
    TextRun,
    _server_sent,
    run_events,
    text_run,
)
from copass_router_anthropic.translate import Translator
from hypothesis import given
from hypothesis import strategies as st

from copass_router import JsonObject, ProviderEvent, TextDelta


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _parsed(*chunks: bytes) -> list[tuple[str | None, bytes]]:
    """Each event's (name, data), the deltas of a run too."""
    parsed = []
    async for items in _server_sent(_chunks(*chunks)):
        for kind, data in items:
            if kind == RUN:
                parsed.extend(run_events(data))
            else:
                parsed.append((kind, data))
    return parsed


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


async def test_a_run_of_deltas_starts_only_where_an_event_does() -> None:
    # The delta lines inside another event are that event's fields, not an event of their own.
    parsed = await _parsed(
        b"data: 1\nevent: event_delta\ndata: 2\n\nevent: event_delta\ndata: 3\n\n",
        b"\n\nevent: event_delta\ndata: 4\n\nevent: event_delta\ndata: 5\nid: 9\n\n",
    )
    assert parsed == [
        ("event_delta", b"1\n2"),
        ("event_delta", b"3"),
        ("event_delta", b"4"),
        ("event_delta", b"5"),
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
    [run] = events[0]
    assert (run.event_id, run.index, run.text) == ("m1", 0, "hi")
    assert run.events() == [
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
    assert len(events) == 2 and isinstance(events[1], JsonObject)
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
    # One read: the three deltas in a row come as one run of text, the idle event between as
    # a model.
    assert [type(e) for e in events] == [list, type(events[1]), list]
    assert [type(e) for e in events[0]] == [TextRun] and events[0][0].text == "abc"
    assert [d["delta"]["content"]["text"] for d in events[0][0].events()] == ["a", "b", "c"]
    assert events[1].type == "session.status_idle" and events[2][0].text == "a"
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


def _delta_data(text: str, event_id: str = "m1", index: int = 0, *, ascii: bool = True) -> bytes:
    event = {
        "type": "event_delta",
        "event_id": event_id,
        "delta": {
            "type": "content_delta",
            "index": index,
            "content": {"type": "text", "text": text},
        },
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=ascii).encode()


def _frames(datas: list[bytes]) -> bytes:
    """The delta events of ``datas``, as the stream carries them."""
    return b"".join(b"event: event_delta\ndata: " + data + b"\n\n" for data in datas)


def _as_json(datas: list[bytes]) -> tuple[str, int, str] | None:
    """What decoding each frame as JSON says the run is (None: not one block's text)."""
    try:
        events = [json.loads(data) for data in datas]
    except ValueError:
        return None
    blocks = {(e["event_id"], e["delta"]["index"]) for e in events if isinstance(e, dict)}
    if len(blocks) != 1 or len(events) != len(datas):
        return None
    ((event_id, index),) = blocks
    return event_id, index, "".join(e["delta"]["content"]["text"] for e in events)


@given(st.lists(st.text(), min_size=1, max_size=12), st.booleans())
def test_a_run_of_text_deltas_reads_as_their_json_says(texts: list[str], ascii: bool) -> None:
    # Any text (quotes, backslashes, newlines, surrogates cut between deltas as an ASCII
    # writer escapes them): the run is what decoding each frame gives, or None (decoded so).
    datas = [_delta_data(t, ascii=ascii) for t in texts]
    run = text_run(_frames(datas))
    if run is None:
        assert any('"' in t for t in texts)  # only quoted text is left to the JSON decoder
    else:
        assert (run.event_id, run.index, run.text) == ("m1", 0, "".join(texts))
        assert run.events() == [json.loads(d) for d in datas]


@given(
    st.lists(st.text(alphabet='ab\\"}\n{:,u0', max_size=6), min_size=1, max_size=4),
    st.data(),
)
def test_a_run_never_reads_what_json_would_not(texts: list[str], data: st.DataObject) -> None:
    # Frames broken anywhere (a byte dropped or changed): the run is refused, or says what
    # decoding the frames as JSON says.
    datas = [_delta_data(t) for t in texts]
    n = data.draw(st.integers(0, len(datas) - 1))
    at = data.draw(st.integers(0, len(datas[n]) - 1))
    byte = data.draw(st.sampled_from([b"", b'"', b"\\", b"}", b"a", b"1", b" "]))
    datas[n] = datas[n][:at] + byte + datas[n][at + 1 :]
    if any(b"\n" in d for d in datas):
        return  # the stream's reader never gives a frame's data with a newline
    run = text_run(_frames(datas))
    if run is not None:
        assert _as_json(datas) == (run.event_id, run.index, run.text)


def test_deltas_of_other_blocks_or_layouts_are_left_to_the_json_decoder() -> None:
    assert text_run(_frames([_delta_data("a"), _delta_data("b", index=1)])) is None
    assert text_run(_frames([_delta_data("a"), _delta_data("b", event_id="m2")])) is None
    spaced = json.dumps(json.loads(_delta_data("a"))).encode()  # ", " and ": " separators
    assert text_run(_frames([spaced])) is None
    with_id = _delta_data("a").replace(
        b'{"type":"event_delta",', b'{"type":"event_delta","id":"d1",'
    )
    assert text_run(_frames([with_id])) is None
    assert text_run(_frames([_delta_data("a"), b'{"type":"event_delta"}'])) is None
    two_lines = _frames([_delta_data("ab")]).replace(b'"text":"a', b'"text":"a\ndata: ')
    assert text_run(two_lines) is None
    unclosed = _delta_data("").replace(b'"text":""', b'"text":"')  # its end is its text's start
    assert text_run(_frames([unclosed])) is None and _as_json([unclosed]) is None


def test_a_run_of_a_message_the_turn_never_announced_is_kept_delta_by_delta() -> None:
    translator = Translator()
    translator.expect(None)
    run = text_run(_frames([_delta_data("a", event_id="m9"), _delta_data("b", event_id="m9")]))
    assert run is not None
    kept = translator.translate([run])
    assert [type(e) for e in kept] == [ProviderEvent, ProviderEvent]
    assert kept[1].provider_data == {"anthropic": json.loads(_delta_data("b", event_id="m9"))}
    translator._previews["m1"] = {0: "x"}
    assert translator.translate([text_run(_frames([_delta_data("yz")]))]) == [TextDelta(text="yz")]
    assert translator._previews["m1"] == {0: "xyz"}


async def test_deltas_a_run_cannot_read_are_read_one_by_one() -> None:
    def delta(text: str) -> str:
        return _delta_data(text).decode()

    stream, _ = _stream(
        *("event: event_delta", f"data: {delta('a')}", ""),
        *("event: event_delta", f"data: {delta('b')}", "id: 7", ""),  # a field more
        *("event: event_delta", f"data: {delta('c')}", ""),
    )
    events: list[Any] = [e async for e in stream]
    translator = Translator()
    translator.expect(None)
    translator._previews["m1"] = {}
    told = [e for event in events for e in translator.translate(event)]
    assert "".join(e.text for e in told) == "abc" and translator._previews["m1"] == {0: "abc"}
