"""The neutral event union every run streams, whichever provider executes it.

Each event is a frozen, slotted attrs class. On the wire an event is a JSON object whose ``type``
names the class (``text_delta``, ``tool_call``...); :func:`event_to_dict` and
:func:`event_from_dict` are the only converters. A reader meeting a ``type`` it does not know gets
an :class:`UnknownEvent` holding the raw data, and fields it does not know are ignored, so an older
client keeps working against a newer router.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from copass_router._types import StopReason, TokenCounts
from copass_router._wire import get_converter


@attrs.frozen(kw_only=True)
class Event:
    """Fields every event carries. ``run_id`` and ``seq`` are stamped by the router.

    ``provider_data`` holds provider-specific data keyed by provider name; other providers and
    the router treat it as opaque.
    """

    type: ClassVar[str] = "event"
    run_id: str = ""
    seq: int = 0
    provider_data: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class RunStarted(Event):
    """First event of every run. ``session_id`` is the session the turn belongs to."""

    type: ClassVar[str] = "run_started"
    session_id: str
    provider: str
    model: str


@attrs.frozen(kw_only=True)
class TextDelta(Event):
    """A piece of assistant text as it streams."""

    type: ClassVar[str] = "text_delta"
    text: str


@attrs.frozen(kw_only=True)
class ThinkingDelta(Event):
    """A piece of the model's visible reasoning as it streams."""

    type: ClassVar[str] = "thinking_delta"
    text: str


@attrs.frozen(kw_only=True)
class Message(Event):
    """A completed block of assistant text (the deltas before it, joined)."""

    type: ClassVar[str] = "message"
    role: str = "assistant"
    text: str


@attrs.frozen(kw_only=True)
class ThinkingMessage(Event):
    """A completed block of reasoning. It is recorded, but never sent to another provider."""

    type: ClassVar[str] = "thinking_message"
    text: str


@attrs.frozen(kw_only=True)
class ToolCall(Event):
    """The model asked for a tool call; it runs in the router."""

    type: ClassVar[str] = "tool_call"
    call_id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ToolResult(Event):
    """What went back to the model for a tool call. ``is_error`` results reach the model too."""

    type: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    output: str
    is_error: bool = False


@attrs.frozen(kw_only=True)
class ApprovalRequested(Event):
    """A tool call waits for approval before it runs (after its ``ToolCall``, before its
    ``ToolResult``): answer with ``Router.approve``/``deny`` (hosted: the run's approvals
    endpoint). ``timeout`` seconds without a decision deny it."""

    type: ClassVar[str] = "approval_requested"
    call_id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    timeout: float = 0.0


@attrs.frozen(kw_only=True)
class Usage(Event):
    """Tokens one model request used. The router sums them into ``RunFinished.usage``."""

    type: ClassVar[str] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    #: What the call cost in USD, priced by the router from the registered prices (None: the
    #: model has no registered price). Exact (``Decimal``); a JSON string on the wire.
    cost_usd: Decimal | None = None

    def as_token_usage(self) -> TokenCounts:
        """These counts as a :class:`TokenCounts`."""
        return TokenCounts(
            self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens
        )


@attrs.frozen(kw_only=True)
class Error(Event):
    """Something went wrong. The run still ends with a ``RunFinished``.

    ``code`` is a short machine-readable name (``rate_limited``, ``provider_error``, ``timeout``,
    ``stream_cut``...), ``retryable`` says whether the same request may succeed later and
    ``detail`` keeps whatever the provider said beyond the message.
    """

    type: ClassVar[str] = "error"
    code: str
    message: str
    retryable: bool = False
    provider: str | None = None
    detail: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Retry(Event):
    """A model request failed with a retryable error before any output; the router tries again.

    ``attempt`` counts retries from 1; ``delay`` is the wait in seconds before it; ``code`` and
    ``message`` say what failed (a neutral code, as in :class:`Error`).
    """

    type: ClassVar[str] = "retry"
    attempt: int
    delay: float
    code: str
    message: str
    provider: str | None = None


@attrs.frozen(kw_only=True)
class Failover(Event):
    """The turn's provider failed; the turn goes on with the next fallback.

    The next provider gets the session's history and what this turn did so far (tool results
    included, so no tool runs again). ``code`` and ``message`` say why (a neutral code, as in
    :class:`Error`).
    """

    type: ClassVar[str] = "failover"
    from_provider: str
    from_model: str
    to_provider: str
    to_model: str
    code: str
    message: str


@attrs.frozen(kw_only=True)
class ContextCompacted(Event):
    """The turn's history did not fit the model's context window and was compacted before the
    first call: ``turns_before`` earlier turns became ``turns_after`` (``by`` the default
    ``trim_oldest``, or a ``copass_router_compact_history`` ``hook``); tokens are estimates."""

    type: ClassVar[str] = "context_compacted"
    turns_before: int
    turns_after: int
    tokens_before: int
    tokens_after: int
    limit: int
    by: str = "trim_oldest"


@attrs.frozen(kw_only=True)
class StructuredOutput(Event):
    """The run's answer as a value: the final answer parsed as JSON and valid against the
    run's ``output_schema``. Once, before ``run_finished``, in a run that asked for it."""

    type: ClassVar[str] = "structured_output"
    value: Any = None


@attrs.frozen(kw_only=True)
class ProviderEvent(Event):
    """A provider event with no neutral meaning, passed on rather than dropped.

    ``kind`` is the provider's own event type; the payload is in ``provider_data``.
    """

    type: ClassVar[str] = "provider_event"
    kind: str


@attrs.frozen(kw_only=True)
class RunFinished(Event):
    """Last event of every run, exactly once."""

    type: ClassVar[str] = "run_finished"
    stop_reason: StopReason
    usage: TokenCounts = TokenCounts()
    session_id: str = ""
    #: The provider and model that finished the turn (after a failover: the last one tried).
    provider: str = ""
    model: str = ""
    #: The turn's cost in USD: the sum of its priced model calls (None: none was priced).
    cost_usd: Decimal | None = None


@attrs.frozen(kw_only=True)
class UnknownEvent(Event):
    """An event of a type this reader does not know (from a newer router). Nothing is lost."""

    type: ClassVar[str] = "unknown"
    event_type: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        TextDelta,
        ThinkingDelta,
        Message,
        ThinkingMessage,
        ToolCall,
        ToolResult,
        ApprovalRequested,
        Usage,
        Error,
        Retry,
        Failover,
        ContextCompacted,
        StructuredOutput,
        ProviderEvent,
        RunFinished,
    )
}


_FIELDS: dict[type[Event], frozenset[str]] = {
    cls: frozenset(f.name for f in attrs.fields(cls)) for cls in EVENT_TYPES.values()
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form of ``event``, with its ``type`` discriminator first."""
    if isinstance(event, UnknownEvent):
        # Stamped by this router (a backend passed it on): its run_id and seq are this run's.
        stamped = {"run_id": event.run_id, "seq": event.seq} if event.run_id else {}
        return {"type": event.event_type, **event.data, **stamped}
    body = get_converter().unstructure(event)
    if body.get("provider_data") is None:
        body.pop("provider_data", None)
    return {"type": event.type, **body}


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its wire form. Unknown types give :class:`UnknownEvent`."""
    kind = data.get("type", "")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return UnknownEvent(
            run_id=str(data.get("run_id", "")),
            seq=int(data.get("seq", 0)),
            event_type=str(kind),
            data={k: v for k, v in data.items() if k != "type"},
        )
    known = _FIELDS[cls]
    return get_converter().structure({k: v for k, v in data.items() if k in known}, cls)


def event_to_json(event: Event) -> str:
    """``event`` as one line of compact JSON."""
    return json.dumps(event_to_dict(event), separators=(",", ":"), default=str)


def event_from_json(text: str | bytes) -> Event:
    """Parse one event from JSON text."""
    return event_from_dict(json.loads(text))
