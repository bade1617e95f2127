"""The part of the stream grammar the core enforces on every backend: model requests.

A model request is the model's text and reasoning, then its tool calls, closed by its ``Usage``;
the next request begins when a tool result goes back to the model (or the request is retried,
or another provider takes over). Text after the closing usage is refused, and a request the
backend ended without usage is closed with a ``Usage`` that says so.
"""

from __future__ import annotations

from copass_router._events import (
    Event,
    Failover,
    Message,
    Retry,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
)
from copass_router._logs import get_logger
from copass_router._types import StopReason

log = get_logger("copass_router.run")

_TEXT = frozenset({TextDelta, ThinkingDelta, Message, ThinkingMessage})
_DELTAS = frozenset({TextDelta, ThinkingDelta})
_NEW_REQUEST = frozenset({ToolResult, Retry, Failover})
#: The events :meth:`RequestGrammar.note` looks at.
GRAMMAR_EVENTS = frozenset({*_TEXT, ToolCall, Usage, *_NEW_REQUEST})
#: Stop reasons of a turn whose last model request ended as the model chose (so it has usage).
CLOSED_BY_USAGE = frozenset(
    {StopReason.END_TURN, StopReason.MAX_TOKENS, StopReason.REFUSAL, StopReason.TOOL_LIMIT}
)
#: Stops the core asks for between model requests, before the next one is sent.
_BEFORE_SEND = frozenset({StopReason.TOOL_LIMIT, StopReason.BUDGET})
#: ``provider_data`` of the usage the core closes an unreported request with.
NOT_REPORTED = {"copass_router": {"usage": "not_reported"}}


class RequestGrammar:
    """Where the current model request stands, event by event."""

    __slots__ = ("after_result", "closed", "fresh", "open_output", "streamed")

    def __init__(self) -> None:
        self.fresh = True  # a model request is next, and the core has not prepared it yet
        self.closed = False  # a Usage closed the request; no tool result since
        self.open_output = False  # the request produced output and has no usage yet
        self.after_result = False  # a tool result went back; the new request said nothing yet
        self.streamed = 0  # characters of text and reasoning the open request produced

    def note(self, event: Event) -> str | None:
        """Take note of ``event``; a description of the rule it breaks, or None."""
        cls = event.__class__
        if cls in _TEXT:
            if self.closed:
                return f"a {event.type} event after the usage that closed its model request"
            if cls in _DELTAS or not self.open_output:  # a message repeats its deltas
                self.streamed += len(event.text)  # type: ignore[attr-defined]
            self.open_output, self.after_result = True, False
        elif cls is ToolCall:
            if not self.closed:
                self.open_output, self.after_result = True, False
        elif cls is Usage:
            # Before the new request said anything, a usage is the previous request's, reported
            # late (a deployed agent's tool callback can overtake its stream): it closes nothing.
            if not (self.after_result and not self.open_output):
                self.closed, self.open_output, self.streamed = True, False, 0
        elif cls in _NEW_REQUEST:
            if not (cls is ToolResult and self.after_result):  # a round's later results
                self.fresh = True
            self.closed = self.open_output = False
            self.streamed = 0
            self.after_result = cls is ToolResult
        return None

    def in_flight(self, stop: StopReason | None) -> bool:
        """Whether a model request was sent and has no usage yet, for a turn that ended early
        with ``stop`` (a stop for the tool-round cap or the budget comes before the request
        after a tool result is sent)."""
        if self.closed:
            return False
        return not (self.after_result and not self.open_output and stop in _BEFORE_SEND)

    def unclosed(self, backend: object) -> list[Event]:
        """The ``Usage`` that closes a request the backend ended without one (or nothing)."""
        if not self.open_output:
            return []
        log.warning("usage_not_reported", backend=type(backend).__qualname__)
        self.closed, self.open_output = True, False
        return [Usage(provider_data=NOT_REPORTED)]
