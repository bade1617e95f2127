"""How the CLI shows a run: text as it streams, tool activity marked, usage at the end."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from copass_router._events import (
    Error,
    Event,
    Message,
    ProviderEvent,
    RunFinished,
    RunStarted,
    StructuredOutput,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    event_to_json,
)
from copass_router._types import (
    AssistantItem,
    StopReason,
    ToolCallItem,
    ToolResultItem,
    TranscriptItem,
)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EventPrinter:
    """Writes events to a stream, readably or as JSON lines.

    Provider-specific events (``ProviderEvent``) are shown only with ``verbose``; escape
    codes (dimmed reasoning) only with ``color``, which the CLI sets for a terminal without
    ``NO_COLOR``.
    """

    def __init__(
        self, out: TextIO, *, as_json: bool = False, verbose: bool = False, color: bool = False
    ) -> None:
        self.out = out
        self.as_json = as_json
        self.verbose = verbose
        self.color = color
        self.failed = False
        self._mid_line = False
        self._streaming: type[Event] | None = None  # TextDelta or ThinkingDelta, mid-stream

    def _line(self, text: str) -> None:
        if self._mid_line:
            self.out.write("\n")
            self._mid_line = False
        self._streaming = None
        self.out.write(text + "\n")

    def _stream(self, event: TextDelta | ThinkingDelta) -> None:
        """Text and reasoning as they stream, each on lines of its own (reasoning marked, and
        dimmed when colour is on)."""
        kind = type(event)
        if self._streaming is not kind:
            if self._mid_line:
                self.out.write("\n")
            if isinstance(event, ThinkingDelta):
                self.out.write(self._dim("(thinking) "))
            self._streaming = kind
        self.out.write(event.text if isinstance(event, TextDelta) else self._dim(event.text))
        self._mid_line = True

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def show(self, event: Event) -> None:
        """Print one event."""
        if isinstance(event, Error) or (
            isinstance(event, RunFinished) and event.stop_reason is StopReason.ERROR
        ):
            self.failed = True
        if self.as_json:
            self.out.write(event_to_json(event) + "\n")
        elif isinstance(event, TextDelta | ThinkingDelta):
            self._stream(event)
        elif isinstance(event, RunStarted):
            self._line(f"[{event.provider}/{event.model} session={event.session_id}]")
        elif isinstance(event, ToolCall):
            self._line(f"→ {event.name}({json.dumps(dict(event.arguments))})")
        elif isinstance(event, ToolResult):
            mark = "✗" if event.is_error else "←"
            self._line(f"{mark} {event.name}: {_short(event.output)}")
        elif isinstance(event, Error):
            retry = " (retryable)" if event.retryable else ""
            self._line(f"! {event.code}: {event.message}{retry}")
        elif isinstance(event, StructuredOutput):
            self._line(f"= output: {_short(json.dumps(event.value))}")
        elif isinstance(event, ProviderEvent):
            if self.verbose:
                self._line(f"· {event.kind}")
        elif isinstance(event, RunFinished):
            u = event.usage
            self._line(
                f"[{event.stop_reason.value}] tokens in={u.input_tokens} out={u.output_tokens} "
                f"cache_read={u.cache_read_tokens} cache_write={u.cache_write_tokens} "
                f"session={event.session_id}"
            )
        elif isinstance(event, Message) and self._mid_line:
            self.out.write("\n")
            self._mid_line = False
            self._streaming = None
        self.out.flush()

    def show_items(self, items: Iterable[TranscriptItem]) -> None:
        """Print a transcript turn's items."""
        for item in items:
            if isinstance(item, AssistantItem):
                self._line(f"  assistant: {item.text}")
            elif isinstance(item, ToolCallItem):
                self._line(f"  → {item.name}({json.dumps(dict(item.arguments))})")
            elif isinstance(item, ToolResultItem):
                self._line(f"  {'✗' if item.is_error else '←'} {item.name}: {_short(item.output)}")
