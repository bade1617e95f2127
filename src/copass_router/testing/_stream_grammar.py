"""The grammar of a run's event stream, checked event by event (docs/events.md, "Grammar").

:class:`StreamChecker` is fed a run's events in the order a consumer sees them and raises
:class:`StreamGrammarError` at the first event that breaks a rule, naming it and the events it
conflicts with. The conformance kit runs it on every stream it sees; a project's own test suite
can run it on every stream too (copass-router's own suite does).
"""

from __future__ import annotations

from collections.abc import Iterable

from copass_router._errors import ERROR_CODES
from copass_router._events import (
    ApprovalRequested,
    Error,
    Event,
    Failover,
    Message,
    Retry,
    RunFinished,
    RunStarted,
    StructuredOutput,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    UnknownEvent,
    Usage,
)
from copass_router._types import StopReason, ToolCallItem, ToolResultItem, TranscriptTurn

#: What the model produces inside one model request. Its tool calls belong to it too, and may
#: be announced after its usage (a stateless chat API's calls are dispatched once it ended).
MODEL_OUTPUT = (TextDelta, ThinkingDelta, Message, ThinkingMessage)
#: Stop reasons of a turn the model ended itself: every call was answered, every request closed.
MODEL_ENDED = frozenset({StopReason.END_TURN, StopReason.MAX_TOKENS, StopReason.REFUSAL})


class StreamGrammarError(AssertionError):
    """A run's stream broke a rule of the grammar. The message names the rule and the events."""


def _show(event: Event) -> str:
    """One event in a line, for messages."""
    fields = {
        name: getattr(event, name)
        for name in ("call_id", "name", "code", "retryable", "stop_reason", "text")
        if hasattr(event, name)
    }
    if "text" in fields and isinstance(fields["text"], str) and len(fields["text"]) > 40:
        fields["text"] = fields["text"][:40] + "..."
    inside = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"#{event.seq} {event.type}({inside})"


class StreamChecker:
    """Checks one run's stream as it passes; see the module docstring.

    :param where: names the stream in messages (a provider, a test, an endpoint).
    """

    def __init__(self, where: str = "stream") -> None:
        self.where = where
        self.events: list[Event] = []
        self.finished: RunFinished | None = None
        self._calls: dict[str, ToolCall] = {}
        self._answered: dict[str, ToolResult] = {}
        self._approvals: dict[str, ApprovalRequested] = {}
        #: The Usage that closed the current model request (None: the request is open).
        self._closed_by: Usage | None = None
        self._request_output: Event | None = None
        self._after_result = False  # a tool result went back; the new request said nothing yet
        self._errors = 0

    def _fail(self, rule: str, event: Event, *others: Event | None) -> None:
        seen = [e for e in others if e is not None]
        also = "; conflicts with " + ", ".join(_show(e) for e in seen) if seen else ""
        raise StreamGrammarError(f"{self.where}: {rule}: {_show(event)}{also}")

    def feed(self, event: Event) -> None:
        """Check the next event of the stream."""
        first = not self.events
        previous = self.events[-1] if self.events else None
        self.events.append(event)
        if first and not isinstance(event, RunStarted):
            self._fail("the first event must be run_started", event)
        if not first and isinstance(event, RunStarted):
            self._fail("run_started comes once, first", event, self.events[0])
        if self.finished is not None:
            self._fail("nothing follows run_finished", event, self.finished)
        if isinstance(previous, StructuredOutput) and not isinstance(event, RunFinished):
            self._fail("only run_finished follows structured_output", event, previous)
        if previous is not None:
            if event.seq <= previous.seq:
                self._fail("seq must increase strictly", event, previous)
            if event.run_id != previous.run_id:
                self._fail("every event carries the run's run_id", event, previous)
        if isinstance(event, MODEL_OUTPUT):
            self._model_output(event)
        elif isinstance(event, ToolCall):
            self._tool_call(event)
        elif isinstance(event, ToolResult):
            self._tool_result(event)
        elif isinstance(event, ApprovalRequested):
            self._approval(event)
        elif isinstance(event, Usage):
            self._usage_event(event)
        elif isinstance(event, Retry | Failover):
            self._check_code(event, event.code, retryable=None)
            self._closed_by = None  # the request is made again (or by another provider)
            self._request_output = None
            self._after_result = False
        elif isinstance(event, Error):
            self._errors += 1
            self._check_code(event, event.code, retryable=event.retryable)
        elif isinstance(event, RunFinished):
            self._run_finished(event)
        elif isinstance(event, UnknownEvent) and event.event_type == "run_finished":
            self._fail("run_finished that does not parse", event)

    def _usage_event(self, event: Usage) -> None:
        # Before the new request said anything, a usage is the previous request's, reported
        # late (a deployed agent's tool callback can overtake its own stream): it closes nothing.
        if not (self._after_result and self._request_output is None):
            self._closed_by = event
            self._request_output = None

    def _model_output(self, event: Event) -> None:
        if self._closed_by is not None:
            self._fail(
                "no text or reasoning follows the usage that closed its model request "
                "(a new request begins only after a tool_result)",
                event,
                self._closed_by,
            )
        self._request_output = event
        self._after_result = False

    def _tool_call(self, event: ToolCall) -> None:
        earlier = self._calls.get(event.call_id)
        if earlier is not None:
            self._fail("a call_id is used by one tool_call only", event, earlier)
        self._calls[event.call_id] = event
        if self._closed_by is None:
            self._request_output = event
            self._after_result = False

    def _approval(self, event: ApprovalRequested) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            self._fail("an approval_requested comes after the tool_call with its call_id", event)
        elif event.call_id in self._answered:
            self._fail(
                "an approval_requested comes before its call's tool_result",
                event,
                self._answered[event.call_id],
            )
        earlier = self._approvals.get(event.call_id)
        if earlier is not None:
            self._fail("one approval_requested per tool_call", event, earlier)
        self._approvals[event.call_id] = event

    def _tool_result(self, event: ToolResult) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            self._fail("a tool_result comes after the tool_call with its call_id", event)
        elif call.name != event.name:
            self._fail("a tool_result names its call's tool", event, call)
        earlier = self._answered.get(event.call_id)
        if earlier is not None:
            self._fail("one tool_result per tool_call", event, earlier)
        self._answered[event.call_id] = event
        self._closed_by = None  # the result goes back to the model: a new request begins
        self._request_output = None
        self._after_result = True

    def _check_code(self, event: Event, code: str, *, retryable: bool | None) -> None:
        info = ERROR_CODES.get(code)
        if info is None:
            self._fail(f"code {code!r} is not in ErrorCode", event)
        elif retryable is not None and retryable != info.retryable:
            self._fail(
                f"retryable must be the error table's ({info.retryable}) for {code!r}", event
            )

    def _run_finished(self, event: RunFinished) -> None:
        self.finished = event
        if not isinstance(event.stop_reason, StopReason):
            self._fail("stop_reason must be a StopReason", event)
        if event.stop_reason is StopReason.ERROR and not self._errors:
            self._fail("run_finished(error) follows an error event", event)
        if event.stop_reason in MODEL_ENDED:
            open_calls = [c for cid, c in self._calls.items() if cid not in self._answered]
            if open_calls:
                self._fail("every tool_call has its tool_result", event, *open_calls)
            if self._request_output is not None:
                self._fail("a model request closes with its usage", event, self._request_output)

    def finish(self) -> None:
        """The stream ended on its own (the consumer read it to the end)."""
        if self.finished is None:
            last = self.events[-1] if self.events else None
            if last is None:
                raise StreamGrammarError(f"{self.where}: a run streams at least run_started")
            self._fail("a stream read to its end ends with run_finished", last)

    def check_transcript(self, turn: TranscriptTurn) -> None:
        """The stored turn holds the stream's tool calls and results, in the stream's order."""
        stored = [
            (type(item).__name__, item.call_id)
            for item in turn.items
            if isinstance(item, ToolCallItem | ToolResultItem)
        ]
        streamed = [
            ("ToolCallItem" if isinstance(e, ToolCall) else "ToolResultItem", e.call_id)
            for e in self.events
            if isinstance(e, ToolCall | ToolResult)
        ]
        if stored != streamed:
            raise StreamGrammarError(
                f"{self.where}: the stored transcript's tool items {stored} are not the "
                f"stream's {streamed}"
            )


def check_stream(events: Iterable[Event], where: str = "stream") -> StreamChecker:
    """Check a whole stream (read to its end); returns the checker (raises on a violation)."""
    checker = StreamChecker(where)
    for event in events:
        checker.feed(event)
    checker.finish()
    return checker


__all__ = ["StreamChecker", "StreamGrammarError", "check_stream"]
