"""A session's event stream, read as server-sent events, its events as their decoded JSON.

The SDK's own stream validates every event into its models: about 130 µs of CPU per event,
and a turn streams a delta per token, so at ~200 deltas that was more than the whole turn of a
client that asks for no deltas. Here the stream is opened through the SDK (same client, request,
headers, retries and errors) and its bytes are cut into server-sent events directly (the SDK's
line reader costs several async-generator steps per line, three lines per event). The text
deltas that arrive in a row in one network read are passed on together, as one
:class:`TextRun` (or, in another layout, as a list of their JSON objects, decoded in one call);
every other event is its JSON object as a :class:`~copass_router.JsonObject`, whose fields read
as attributes, as on the SDK's models.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from itertools import repeat
from typing import Any

import anthropic
from anthropic.types.beta.sessions import BetaManagedAgentsStreamSessionEvents

from copass_router import JsonObject, sse_fields, sse_json, sse_reads

__all__ = ["EventStream", "TextRun", "open_event_stream", "text_run"]

#: Events kept as decoded JSON: the one kind a turn receives per token.
PLAIN = "event_delta"


async def open_event_stream(
    client: anthropic.AsyncAnthropic, session_id: str, deltas: Sequence[str]
) -> EventStream:
    """Open session ``session_id``'s stream. Raises the SDK's error (e.g. NotFoundError) as is."""
    manager = client.beta.sessions.events.with_streaming_response.stream(
        session_id,
        event_deltas=list(deltas),  # type: ignore[arg-type]
        extra_headers={"accept": "text/event-stream"},
    )
    response = await manager.__aenter__()
    return EventStream(client, response)


class EventStream:
    """Async iteration over one open stream's events; :meth:`close` ends it (idempotent)."""

    def __init__(self, client: anthropic.AsyncAnthropic, response: Any) -> None:
        self._client = client
        self._response = response

    async def close(self) -> None:
        await self._response.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        loads, model = json.loads, self._model
        try:
            async for frames in _server_sent(self._response.http_response.aiter_bytes()):
                deltas: list[bytes] = []  # text deltas in a row: decoded at once
                for kind, data in _runs_read(frames):
                    if isinstance(data, TextRun):
                        if deltas:
                            yield _decoded(deltas, model)
                            deltas = []
                        yield [data]
                        continue
                    if kind == "event_delta":
                        deltas.append(data)
                        continue
                    if deltas:
                        yield _decoded(deltas, model)
                        deltas = []
                    if kind is None or kind == "ping" or not data:
                        continue  # what the SDK's stream skips too
                    if kind == "error":
                        raise self._error(data.decode("utf-8", "replace"))
                    event = loads(data)
                    if isinstance(event, dict) and event.get("type") == PLAIN:
                        yield [event]
                    else:
                        yield model(event)
                if deltas:
                    yield _decoded(deltas, model)
        finally:
            await self._response.close()

    def _model(self, data: Any) -> Any:
        if type(data) is dict:
            return JsonObject(data)
        # Not an object: the SDK's own (non-validating) construction, as its stream does.
        return self._client._process_response_data(
            data=data,
            cast_to=BetaManagedAgentsStreamSessionEvents,  # type: ignore[arg-type]
            response=self._response.http_response,
        )

    def _error(self, data: str) -> anthropic.APIStatusError:
        body: Any = data
        try:
            body = json.loads(data)
        except ValueError:
            pass
        return anthropic.APIStatusError(
            f"{body}" if body else "the event stream reported an error",
            response=self._response.http_response,
            body=body,
        )


class TextRun:
    """Text deltas in a row, of one block of one message, read together: their text joined,
    decoded without building their JSON objects (:meth:`events` builds them, if asked)."""

    __slots__ = ("event_id", "frames", "index", "text")

    def __init__(self, event_id: str, index: int, text: str, frames: bytes) -> None:
        self.event_id = event_id
        self.index = index
        self.text = text
        #: The deltas' server-sent events, as they arrived.
        self.frames = frames

    def events(self) -> list[dict[str, Any]]:
        """The deltas' JSON objects."""
        return [json.loads(data) for _, data in run_events(self.frames)]


#: How a text delta's event starts: its name line, then its ``data:`` line.
_DELTA_FRAME = b"event: event_delta\ndata: "
#: Where an event that does not start as a text delta's does begins (or the text ends).
_NOT_DELTA = re.compile(rb"\n\n(?!event: event_delta\ndata: )")
_RUN_HEAD = _DELTA_FRAME + b'{"type":"event_delta","event_id":"'
_RUN_BLOCK = b'","delta":{"type":"content_delta","index":'
_RUN_TEXT = b',"content":{"type":"text","text":"'
_RUN_END = b'"}}}\n\n'


def run_events(frames: bytes) -> list[tuple[str | None, bytes]]:
    """The (name, data) of each event in a run (the SSE format's field rules)."""
    return [e for frame in frames.split(b"\n\n") if (e := sse_fields(frame)) is not None]


def text_run(frames: bytes) -> TextRun | None:
    """Events in a row that start as text deltas' do, as one :class:`TextRun` when
    every one is a text delta of the same message block written compactly, in the order the
    API writes its fields; None for anything else (then their data is decoded as JSON, which
    reads any layout).

    Each event is then a prefix (naming the message and block), its text's JSON string body
    and a fixed end. Cut where an end meets the next event's name and ``data:`` line, each piece
    must start with the prefix's JSON; when no body then holds a line break, only the ends hold
    blank lines, so there is no event of another form in between: the run is those events, a
    body each. When no body
    holds a quote, every quote in ``["body1","body2",...]`` is a delimiter, so decoding that
    list succeeds, with one string per event, exactly when each body is a valid JSON string;
    it gives their text."""
    if not frames.startswith(_RUN_HEAD):
        return None
    block = frames.find(_RUN_BLOCK, len(_RUN_HEAD))
    text_at = frames.find(_RUN_TEXT, block + len(_RUN_BLOCK))
    first_end = frames.find(b"\n\n")
    if block < 0 or not 0 <= text_at < first_end:
        return None
    prefix = frames[: text_at + len(_RUN_TEXT)]
    event_id, index = frames[len(_RUN_HEAD) : block], frames[block + len(_RUN_BLOCK) : text_at]
    if not index.isdigit() or b"\\" in event_id or b'"' in event_id:
        return None
    if not frames.endswith(_RUN_END):
        return None
    # Cut where one event may meet the next (a short separator: a long one is searched for
    # slowly), then each piece must start with the JSON's prefix.
    own, data = prefix[len(_DELTA_FRAME) :], len(_DELTA_FRAME)
    pieces = frames[data : -len(_RUN_END)].split(_RUN_END + _DELTA_FRAME)
    if not all(map(bytes.startswith, pieces, repeat(own))):
        return None
    start = len(own)
    bodies = [piece[start:] for piece in pieces]
    body = b"".join(bodies)
    if b'"' in body or b"\n" in body:
        return None
    try:
        if b"\\" not in body:
            text = body.decode("utf-8")
        else:
            text = "".join(json.loads(b'["' + b'","'.join(bodies) + b'"]'))
    except ValueError:  # UnicodeDecodeError included
        return None
    return TextRun(event_id.decode(), int(index), text, frames)


def _runs_read(
    events: list[tuple[str | None, bytes]],
) -> Iterator[tuple[str | None, bytes | TextRun]]:
    """``events`` with each run of text deltas read as a :class:`TextRun`, or as its events."""
    for kind, data in events:
        if kind != RUN:
            yield kind, data
        elif (run := text_run(data)) is not None:
            yield kind, run
        else:
            yield from run_events(data)


def _decoded(datas: list[bytes], model: Any) -> list[Any]:
    """Deltas' data in a row, decoded in one call: their JSON objects, which the translator
    reads as deltas that arrived together (an object that is no delta becomes its model)."""
    return [e if type(e) is dict and e.get("type") == PLAIN else model(e) for e in sse_json(datas)]


#: What :func:`_server_sent` gives for a run of delta events (with the run's bytes).
RUN = "event_delta run"


async def _server_sent(
    chunks: AsyncIterator[bytes],
) -> AsyncIterator[list[tuple[str | None, bytes]]]:
    """The (event name, data) of each server-sent event read off the response's bytes, a list
    per read (:func:`~copass_router.sse_reads`). Events in a row that start as text deltas' do
    are one ``(RUN, their bytes)``, found without a loop over them (:func:`text_run` reads
    them, or :func:`run_events`)."""
    async for complete in sse_reads(chunks):
        out: list[tuple[str | None, bytes]] = []
        at, size = 0, len(complete)
        while at < size:  # ``at``: where an event starts
            if complete.startswith(_DELTA_FRAME, at):
                run_end = _NOT_DELTA.search(complete, at).end()  # type: ignore[union-attr]
                out.append((RUN, complete[at:run_end]))
                at = run_end
                continue
            delta_at = complete.find(b"\n\n" + _DELTA_FRAME, at)
            upto = size if delta_at < 0 else delta_at + 2
            out.extend(run_events(complete[at:upto]))
            at = upto
        if out:
            yield out
