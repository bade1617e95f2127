"""A session's event stream, read as server-sent events with text deltas kept as plain data.

The SDK's own stream validates every event into its models: about 130 µs of CPU per event,
and a turn streams a delta per token, so at ~200 deltas that was more than the whole turn of a
client that asks for no deltas. Here the stream is read through the SDK (same client, request,
headers, retries and errors) as raw server-sent events: an ``event_delta`` stays the decoded
JSON object (a ``dict``, which :class:`~copass_router_anthropic.translate.Translator` reads as
is), every other event becomes the SDK's model exactly as the SDK's stream makes it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic
from anthropic.types.beta.sessions import BetaManagedAgentsStreamSessionEvents

__all__ = ["EventStream", "open_event_stream"]

#: Events kept as decoded JSON: the one kind a turn receives per token.
PLAIN = "event_delta"


async def open_event_stream(
    client: anthropic.AsyncAnthropic, session_id: str, deltas: Sequence[str]
) -> EventStream:
    """Open session ``session_id``'s stream. Raises the SDK's error (e.g. NotFoundError) as is."""
    manager = client.beta.sessions.events.with_streaming_response.stream(
        session_id,
        event_deltas=list(deltas),  # type: ignore[arg-type]
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
        try:
            async for kind, data in _server_sent(self._response.iter_lines()):
                if kind is None or kind == "ping" or not data:
                    continue  # what the SDK's stream skips too
                if kind == "error":
                    raise self._error(data)
                event = json.loads(data)
                if isinstance(event, dict) and event.get("type") == PLAIN:
                    yield event
                else:
                    yield self._model(event)
        finally:
            await self._response.close()

    def _model(self, data: Any) -> Any:
        # The SDK's own (non-validating) construction, as its stream does for every event.
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


async def _server_sent(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) per server-sent event (the SSE format's field rules)."""
    kind: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if kind is not None or data:
                yield kind, "\n".join(data)
            kind, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
    if kind is not None or data:
        yield kind, "\n".join(data)
