"""Collecting a run's stream into one result, for callers that do not need the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs

from copass_router._events import (
    Error,
    Event,
    Message,
    RunFinished,
    RunStarted,
    StructuredOutput,
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
    #: The validated answer of a run that asked for ``output_schema`` (parsed JSON, or an
    #: instance of the pydantic or attrs class given as the schema); None otherwise.
    output: Any = None

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
        output=next((e.value for e in events if isinstance(e, StructuredOutput)), None),
    )


def as_instance(result: RunResult, schema: Any) -> RunResult:
    """``result`` with its output made an instance of ``schema`` when that is a pydantic model
    class or an attrs class (the output was validated against the class's schema)."""
    if result.output is None or not isinstance(schema, type):
        return result
    validate = getattr(schema, "model_validate", None)
    if callable(validate):
        return attrs.evolve(result, output=validate(result.output))
    if attrs.has(schema):
        from copass_router._wire import get_converter

        return attrs.evolve(result, output=get_converter().structure(result.output, schema))
    return result
