"""Turns a run's events into its transcript turn, as they pass, and stores it at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from copass_router._events import (
    Error,
    Event,
    Message,
    TextDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
)
from copass_router._logs import get_logger
from copass_router._outages import store_call
from copass_router._types import (
    AssistantItem,
    ReasoningItem,
    StopReason,
    TokenCounts,
    ToolCallItem,
    ToolResultItem,
    TranscriptItem,
    TranscriptTurn,
    TurnStatus,
)
from copass_router.provider_kit._backend import Turn

if TYPE_CHECKING:
    from copass_router.store import SessionStore, TurnStart

log = get_logger("copass_router.recorder")


class TurnRecorder:
    """Accumulates what a turn said and did. Text that streamed without a closing ``Message``
    (a cut stream, a cancel) is kept too, so nothing the user saw is lost."""

    __slots__ = ("errors", "items", "pending_text", "provider_data", "source", "usage")

    def __init__(self) -> None:
        self.items: list[TranscriptItem] = []
        self.pending_text: list[str] = []
        self.usage = TokenCounts()
        self.errors: list[Error] = []
        self.provider_data: dict[str, Any] = {}
        #: The provider and model of the attempt being recorded (whose reasoning it is).
        self.source = ("", "")

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
        elif cls is ThinkingMessage:
            self._flush_text()
            provider, model = self.source
            data = dict(event.provider_data or {})
            self.items.append(ReasoningItem(event.text, provider, model, data))  # type: ignore[attr-defined]

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


async def store_turn(
    store: SessionStore, start: TurnStart, record: TranscriptTurn, turn: Turn, had_binding: bool
) -> None:
    """One store call: the final turn, the binding it leaves, the session released."""
    synced = record.index + 1
    binding = None
    if turn.new_binding is not None:
        binding = (turn.provider, attrs.evolve(turn.new_binding, synced_turns=synced))
    elif had_binding and turn.binding is not None and record.status is TurnStatus.COMPLETED:
        binding = (turn.provider, attrs.evolve(turn.binding, synced_turns=synced))
    sid = start.session.session_id
    # What cannot be encoded (a value nested too deep) is dropped, never the release of
    # the session: without the binding, then without what the turn produced.
    bare = attrs.evolve(record, items=(), status=TurnStatus.FAILED, provider_data={})
    # A store that is down refuses the record with StoreUnavailableError; the turn is then
    # marked interrupted once its lease lapses.
    async with store_call("record the turn"):
        for final, bound in ((record, binding), (record, None), (bare, None)):
            try:
                kept = await store.finish_turn(sid, final, start.lease, bound)
                break
            except (RecursionError, ValueError, TypeError) as exc:
                log.error("turn_record_unencodable", session_id=sid, error=type(exc).__name__)
        else:
            return
    if not kept:
        # The claim lapsed (a stall longer than the lease) and another turn took the
        # session, or the session was deleted: a late write must not clobber either.
        log.warning("turn_record_refused", session_id=sid, run_id=record.run_id)
