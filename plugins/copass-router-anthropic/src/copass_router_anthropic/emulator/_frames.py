"""How the emulator writes a stream's events: ``event: <type>``, ``data: <compact JSON>``."""

from __future__ import annotations

import json
from typing import Any

_TEXT_DELTA = (
    'event: event_delta\ndata: {"type":"event_delta","event_id":%s,"delta":{"type":'
    '"content_delta","index":%d,"content":{"type":"text","text":%s}}}\n\n'
)


def frame(event: dict[str, Any]) -> str:
    """The server-sent event of ``event``."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def text_delta_frame(event_id: str, index: int, text: str) -> str:
    """The frame of a text delta (a token's worth, the most frequent event), from a template:
    what :func:`frame` writes for it, for a third of its time."""
    dumps = json.dumps
    return _TEXT_DELTA % (dumps(event_id), index, dumps(text))
