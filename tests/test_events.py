"""Every event survives the wire; an older reader copes with newer events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from copass_router import (
    ApprovalRequested,
    ContextCompacted,
    Error,
    Event,
    Failover,
    Message,
    ProviderEvent,
    Retry,
    RunFinished,
    RunStarted,
    StopReason,
    StructuredOutput,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    TokenCounts,
    ToolCall,
    ToolResult,
    UnknownEvent,
    Usage,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
)

SAMPLES: list[Event] = [
    RunStarted(run_id="r", seq=0, session_id="s", provider="echo", model="m"),
    TextDelta(run_id="r", seq=1, text="hé"),
    ThinkingDelta(run_id="r", seq=2, text="hmm"),
    Message(run_id="r", seq=3, text="hello"),
    ThinkingMessage(run_id="r", seq=4, text="hmm"),
    ToolCall(run_id="r", seq=5, call_id="c1", name="add", arguments={"a": [1, {"b": None}]}),
    ToolResult(run_id="r", seq=6, call_id="c1", name="add", output="3", is_error=True),
    ApprovalRequested(run_id="r", seq=6, call_id="c1", name="add", arguments={"a": 1}, timeout=9.5),
    Usage(
        run_id="r",
        seq=7,
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        cost_usd=Decimal("0.0000105"),
    ),
    Error(
        run_id="r",
        seq=8,
        code="rate_limited",
        message="slow down",
        retryable=True,
        provider="anthropic",
        detail={"status": 429},
    ),
    Retry(
        run_id="r", seq=8, attempt=1, delay=0.5, code="rate_limited", message="429", provider="x"
    ),
    ProviderEvent(run_id="r", seq=9, kind="span.x", provider_data={"anthropic": {"k": 1}}),
    Failover(
        run_id="r",
        seq=10,
        from_provider="anthropic",
        from_model="claude",
        to_provider="google",
        to_model="gemini",
        code="overloaded",
        message="503",
    ),
    ContextCompacted(
        run_id="r",
        seq=11,
        turns_before=9,
        turns_after=4,
        tokens_before=130_000,
        tokens_after=90_000,
        limit=100_000,
        by="trim_oldest",
    ),
    StructuredOutput(run_id="r", seq=11, value={"order": "A-1", "items": [1, 2], "gift": None}),
    RunFinished(
        run_id="r",
        seq=11,
        stop_reason=StopReason.TOOL_LIMIT,
        usage=TokenCounts(1, 2, 3, 4),
        session_id="s",
        provider="google",
        model="gemini",
        cost_usd=Decimal("0.000123"),
    ),
]


def test_every_event_type_has_a_sample() -> None:
    from copass_router._events import EVENT_TYPES

    assert {type(e) for e in SAMPLES} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_round_trip_through_json(event: Event) -> None:
    text = event_to_json(event)
    assert event_to_dict(event)["type"] == event.type
    assert event_from_json(text) == event


def test_unknown_type_is_kept_not_dropped() -> None:
    event = event_from_dict({"type": "video_frame", "run_id": "r", "seq": 4, "url": "x"})
    assert isinstance(event, UnknownEvent)
    assert event.event_type == "video_frame" and event.data["url"] == "x"
    assert event_to_dict(event) == {"type": "video_frame", "run_id": "r", "seq": 4, "url": "x"}


def test_unknown_fields_from_a_newer_router_are_ignored() -> None:
    event = event_from_dict({"type": "text_delta", "text": "hi", "confidence": 0.9})
    assert event == TextDelta(text="hi")


def test_stop_reason_is_an_enum_on_the_wire() -> None:
    data = event_to_dict(RunFinished(stop_reason=StopReason.CANCELLED))
    assert data["stop_reason"] == "cancelled"
    assert event_from_dict(data).stop_reason is StopReason.CANCELLED  # type: ignore[attr-defined]
