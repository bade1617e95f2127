"""What goes in and out of an emulated Agents API session: its input events (a message, a tool
result, a cancel) acted on, and its live events framed for the SSE stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ._agents_session import EmulatedSession
from ._parts import PartError, agents_input_parts
from ._wire import WireError


def apply_input(session: EmulatedSession, event: Mapping[str, Any]) -> None:
    """Act on one input event of the session: a message starts a turn, a tool result answers a
    pending call, a cancel stops the turn; anything else is refused with a ``WireError``."""
    kind = event.get("type")
    if kind == "agent.session.input.message":
        if session.status == "budget_reached":
            raise WireError(
                "The session reached its spending limit; raise spend_control.limit.",
                code="budget_reached",
            )
        if session.status != "idle":
            raise WireError(
                f"The session is {session.status}; wait for it to be idle.",
                status=409,
                type="invalid_request_error",
                code="session_busy",
            )
        session.start(input_messages(event.get("input")))
    elif kind == "agent.session.input.tool_result":
        if not session.answer(event):
            call = event.get("call_id")
            raise WireError(f"Unknown pending tool call: {call}", code="invalid_request_error")
    elif kind == "agent.session.input.cancel":
        session.cancel()
    else:
        raise WireError(f"Unsupported input event type: {kind!r}.", param="events")


def input_messages(value: Any) -> list[dict[str, Any]]:
    """The user messages of a message input (a string is one text message), parts checked."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and m.get("role") == "user" for m in value
    ):
        raise WireError("'input' must be a string or a list of user messages.", param="input")
    for n, message in enumerate(value):
        try:
            agents_input_parts(message.get("content"), f"input[{n}]")
        except PartError as exc:
            raise WireError(str(exc), param=exc.param) from None
    return value


async def sse_frames(
    session: EmulatedSession, queue: asyncio.Queue[dict[str, Any] | None]
) -> AsyncIterator[bytes]:
    """The session's events from ``queue`` as SSE frames until the session ends the stream
    (None); the subscriber leaves the session when the client goes."""
    try:
        while True:
            event = await queue.get()
            if event is None:
                return
            data = json.dumps(event, separators=(",", ":"))
            yield f"event: {event['type']}\ndata: {data}\n\n".encode()
    finally:
        session.subscribers.discard(queue)
