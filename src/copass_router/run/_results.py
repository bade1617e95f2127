"""Collecting a run's stream into one result, for callers that do not need the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs

from copass_router._events import (
    Error,
    Event,
    Message,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCall,
    ToolResult,
)
from copass_router._types import StopReason, TokenCounts


@attrs.frozen
class RunResult:
    """A finished run: its text, tool activity, usage, stop reason and every event."""

    run_id: str
    session_id: str
    text: str
    stop_reason: StopReason
    usage: TokenCounts
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    errors: tuple[Error, ...] = ()
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run ended without an error."""
        return self.stop_reason is not StopReason.ERROR


async def collect(stream: AsyncIterator[Event]) -> RunResult:
    """Consume ``stream`` to the end and summarise it."""
    events: list[Event] = [e async for e in stream]
    started = next(e for e in events if isinstance(e, RunStarted))
    finished = next(e for e in reversed(events) if isinstance(e, RunFinished))
    blocks = [e.text for e in events if isinstance(e, Message)]
    if not blocks:
        blocks = ["".join(e.text for e in events if isinstance(e, TextDelta))]
    return RunResult(
        run_id=started.run_id,
        session_id=started.session_id,
        text="\n\n".join(b for b in blocks if b),
        stop_reason=finished.stop_reason,
        usage=finished.usage,
        tool_calls=tuple(e for e in events if isinstance(e, ToolCall)),
        tool_results=tuple(e for e in events if isinstance(e, ToolResult)),
        errors=tuple(e for e in events if isinstance(e, Error)),
        events=tuple(events),
    )
