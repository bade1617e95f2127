"""How the emulator writes a stream's events: ``event: <type>``, ``data: <compact JSON>``."""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

_TEXT_DELTA_HEAD = (
    'event: event_delta\ndata: {"type":"event_delta","event_id":%s,"delta":{"type":'
    '"content_delta","index":%d,"content":{"type":"text","text":'
)


def frame(event: dict[str, Any]) -> str:
    """The server-sent event of ``event``."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def text_delta_frames(event_id: str, index: int) -> Callable[[str], str]:
    """What writes the frames of a message block's text deltas (a token's worth each, the most
    frequent event) from a template: what :func:`frame` writes for each, for a fifth of its
    time (the JSON string of a token written by the encoder's own C function)."""
    head = _TEXT_DELTA_HEAD % (json.dumps(event_id), index)
    encode = encode_basestring_ascii  # what json.dumps uses for a str (ensure_ascii)
    return lambda text: head + encode(text) + "}}}\n\n"
