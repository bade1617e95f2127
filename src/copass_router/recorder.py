"""Turns a run's events into its transcript turn, as they pass."""

from __future__ import annotations

from typing import Any

import attrs

from .events import Error, Event, Message, TextDelta, ToolCall, ToolResult, Usage
from .types import (
    AssistantItem,
    StopReason,
    TokenCounts,
    ToolCallItem,
    ToolResultItem,
    TranscriptItem,
    TranscriptTurn,
    TurnStatus,
)


class TurnRecorder:
    """Accumulates what a turn said and did. Text that streamed without a closing ``Message``
    (a cut stream, a cancel) is kept too, so nothing the user saw is lost."""

    __slots__ = ("errors", "items", "pending_text", "provider_data", "usage")

    def __init__(self) -> None:
        self.items: list[TranscriptItem] = []
        self.pending_text: list[str] = []
        self.usage = TokenCounts()
        self.errors: list[Error] = []
        self.provider_data: dict[str, Any] = {}

    def record(self, event: Event) -> None:
        """Take note of one event."""
        cls = event.__class__
        if cls is TextDelta:
            self.pending_text.append(event.text)  # type: ignore[attr-defined]
        elif cls is Message:
            self.pending_text.clear()
            self.items.append(AssistantItem(event.text))  # type: ignore[attr-defined]
        elif cls is ToolCall:
            self._flush_text()
            e: Any = event
            self.items.append(ToolCallItem(e.call_id, e.name, dict(e.arguments)))
        elif cls is ToolResult:
            r: Any = event
            self.items.append(ToolResultItem(r.call_id, r.name, r.output, r.is_error))
        elif cls is Usage:
            self.usage = self.usage + event.as_token_usage()  # type: ignore[attr-defined]
        elif cls is Error:
            self.errors.append(event)  # type: ignore[arg-type]

    def _flush_text(self) -> None:
        if self.pending_text:
            self.items.append(AssistantItem("".join(self.pending_text)))
            self.pending_text.clear()

    def finish(self, started: TranscriptTurn, stop_reason: StopReason) -> TranscriptTurn:
        """The final transcript turn."""
        self._flush_text()
        status = {
            StopReason.ERROR: TurnStatus.FAILED,
            StopReason.CANCELLED: TurnStatus.CANCELLED,
        }.get(stop_reason, TurnStatus.COMPLETED)
        data = dict(started.provider_data)
        data.update(self.provider_data)
        if self.errors:
            data["errors"] = [{"code": e.code, "message": e.message} for e in self.errors]
        return attrs.evolve(
            started,
            items=tuple(self.items),
            status=status,
            stop_reason=stop_reason,
            usage=self.usage,
            provider_data=data,
        )
