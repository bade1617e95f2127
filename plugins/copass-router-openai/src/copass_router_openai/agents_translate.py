"""Agents API session events -> neutral events, for one turn.

Text and reasoning-summary deltas stream as ``TextDelta`` / ``ThinkingDelta``; a completed
assistant message is a ``Message``, a completed reasoning item a ``ThinkingMessage`` (its id in
``provider_data``, so it is never replayed elsewhere as text). Each function call the session's
``requires_action`` pause lists is a :class:`ToolUse` for the driver to answer through the
router, after the usage that pause reports. The runtime's own tools (web
search, command execution in a hosted environment, MCP calls) become ``ProviderEvent`` marked
``provider_run``. Usage comes from the session snapshots the stream carries (cumulative, so a
budget sees spend mid-turn) and from the turn's own usage when it completes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from copass_router import (
    Event,
    Message,
    ProviderEvent,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCallRequest,
    Usage,
)

from .agents_errors import PROVIDER, session_error

#: Items the runtime runs itself: shown, never answered by the router.
PROVIDER_RUN_ITEMS = frozenset(
    {"web_search_call", "command_execution", "mcp_call", "computer_use_call"}
)


@attrs.frozen
class ToolUse:
    """A function call the router must answer; ``round_id`` names its model step."""

    call: ToolCallRequest
    turn_id: str
    round_id: str


def raw(model: Any) -> dict[str, Any]:
    """A plain dict of an SDK model (or a dict already)."""
    if isinstance(model, Mapping):
        return dict(model)
    dump = getattr(model, "model_dump", None)
    return dict(dump(mode="json", exclude_none=True)) if dump else {}


def _pd(data: Mapping[str, Any]) -> dict[str, Any]:
    return {PROVIDER: dict(data)}


def usage_counts(usage: Any) -> tuple[int, int, int]:
    """(input, output, cached input) of a ``TokenUsage`` (SDK model or dict)."""
    data = raw(usage) if usage is not None else {}
    cached = (data.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0), int(cached)


class Translator:
    """Turns one turn's events into neutral ones; read the outcome after ``done``."""

    def __init__(self, base_usage: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.turn_id: str | None = None
        self.done = False
        self.stop_reason: StopReason | None = None
        self.failed = False
        self.turn_ended = False
        #: The session's cumulative usage last seen (input, output, cached input).
        self.session_usage = base_usage
        #: What this turn reported so far (summed into Usage events).
        self.reported: tuple[int, int, int] = (0, 0, 0)
        self._base = base_usage
        self._streamed: set[str] = set()
        self._answered: set[str] = set()
        self._done_items: set[str] = set()
        self._pauses = 0

    def translate(self, event: Any) -> list[Event | ToolUse]:
        kind = str(getattr(event, "type", "") or "")
        turn_id = getattr(event, "turn_id", None)
        if self.turn_id is not None and turn_id is not None and turn_id != self.turn_id:
            return []  # a subagent's turn (or a stale one): not this turn's output
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, event)
        if kind.startswith("agent.session.environment") or kind.endswith("part.added"):
            return [ProviderEvent(kind=kind, provider_data=_pd(raw(event)))]
        return []

    # --- turn and session lifecycle ------------------------------------------------------------

    def _turn_created(self, event: Any) -> list[Event | ToolUse]:
        turn = getattr(event, "turn", None)
        if self.turn_id is None and getattr(turn, "subagent_id", None) is None:
            self.turn_id = event.turn_id
        return []

    def _turn_ended(self, event: Any) -> list[Event | ToolUse]:
        self.turn_ended = True
        kind = event.type.rsplit(".", 1)[-1]
        out: list[Event | ToolUse] = []
        if kind == "failed":
            out.extend(self._failed_turn(getattr(event.turn, "error", None)))
        elif kind == "cancelled":
            self.stop_reason = StopReason.CANCELLED
        usage = getattr(event, "usage", None) or getattr(event.turn, "usage", None)
        if usage is not None:
            out.extend(self._report(_minus(usage_counts(usage), self.reported)))
        return out

    def _failed_turn(self, error: Any) -> list[Event | ToolUse]:
        """A failed turn: the model's own stop (output limit, policy refusal) or an error."""
        code = getattr(error, "code", None)
        stop = _MODEL_STOPS.get(str(code))
        if stop is not None:
            self.stop_reason = stop
            return []
        self.stop_reason = StopReason.ERROR
        if self.failed or error is None:  # the session's error event already said why
            self.failed = True
            return []
        self.failed = True
        return [session_error(error)]

    def _snapshot(self, event: Any) -> list[Event | ToolUse]:
        """A session snapshot (requires_action, idle, budget_reached, failed)."""
        session = getattr(event, "session", None)
        out: list[Event | ToolUse] = []
        usage = getattr(session, "usage", None)
        if usage is not None:
            self.session_usage = usage_counts(usage)
            # What the session counted for this turn and the turn has not reported yet (the
            # turn's own usage may have come first).
            since = (n - b for n, b in zip(self.session_usage, self._base, strict=True))
            out.extend(self._report(_minus(since, self.reported)))
        kind = event.type.rsplit(".", 1)[-1]
        if kind == "requires_action":
            self._pauses += 1
            out.extend(self._required(session))
        elif kind == "budget_reached":
            self.done, self.stop_reason = True, StopReason.BUDGET
            out.append(ProviderEvent(kind=event.type, provider_data=_pd(_spend(session))))
        elif kind == "failed":
            self.done, self.failed, self.stop_reason = True, True, StopReason.ERROR
        elif kind == "idle" and self.turn_ended:
            self.done = True
        return out

    def _required(self, session: Any) -> list[Event | ToolUse]:
        out: list[Event | ToolUse] = []
        for action in getattr(session, "required_actions", None) or []:
            if getattr(action, "type", None) == "function_call":
                use = self._use(action, action.turn_id)
                if use is not None:
                    out.append(use)
        return out

    def _report(self, counts: tuple[int, int, int]) -> list[Event | ToolUse]:
        if not any(counts):
            return []
        self.reported = _plus(self.reported, counts)
        return [Usage(input_tokens=counts[0], output_tokens=counts[1], cache_read_tokens=counts[2])]

    # --- output --------------------------------------------------------------------------------

    def _text_delta(self, event: Any) -> list[Event | ToolUse]:
        self._streamed.add(event.item_id)
        return [TextDelta(text=event.delta)] if event.delta else []

    def _thinking_delta(self, event: Any) -> list[Event | ToolUse]:
        self._streamed.add(event.item_id)
        return [ThinkingDelta(text=event.delta)] if event.delta else []

    def _item_done(self, event: Any) -> list[Event | ToolUse]:
        item = event.item
        kind = getattr(item, "type", None)
        if item.id in self._done_items:
            return []  # read back after a reconnect, and already translated
        self._done_items.add(item.id)
        if kind == "message" and getattr(item, "role", None) == "assistant":
            text = "".join(getattr(c, "text", "") or "" for c in item.content)
            out: list[Event | ToolUse] = []
            if text and item.id not in self._streamed:
                out.append(TextDelta(text=text))
            if text:
                out.append(Message(text=text, provider_data=_pd({"item_id": item.id})))
            return out
        if kind == "reasoning":
            text = "\n".join(getattr(s, "text", "") or "" for s in item.summary)
            out = [] if item.id in self._streamed or not text else [ThinkingDelta(text=text)]
            if text:
                out.append(ThinkingMessage(text=text, provider_data=_pd({"item_id": item.id})))
            return out
        if kind == "function_call":
            # Answered at the session's requires_action pause, which lists the calls to answer
            # and carries the usage that asked for them (so a budget is checked first).
            return []
        if kind in PROVIDER_RUN_ITEMS:
            data = {**raw(item), "provider_run": True}
            return [ProviderEvent(kind=f"item.{kind}", provider_data=_pd(data))]
        return []

    def _use(self, call: Any, turn_id: str) -> ToolUse | None:
        if call.call_id in self._answered:
            return None
        self._answered.add(call.call_id)
        args = call.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except json.JSONDecodeError:
                args = {"_raw": args}
        if not isinstance(args, Mapping):
            args = {"_value": args}
        request = ToolCallRequest(call.call_id, call.name, dict(args))
        return ToolUse(request, turn_id, f"{turn_id}:{self._pauses}")

    def _error(self, event: Any) -> list[Event | ToolUse]:
        self.failed = True
        self.stop_reason = StopReason.ERROR
        return [session_error(event.error)]


def _minus(a: Any, b: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = (max(0, m - n) for m, n in zip(a, b, strict=True))
    return x, y, z


def _plus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _spend(session: Any) -> dict[str, Any]:
    spend = raw(getattr(session, "spend_control", None) or {})
    return {"spend_control": spend, "session_id": getattr(session, "id", None)}


#: A failed turn's error codes that are the model's own stop, not a failure.
_MODEL_STOPS = {
    "max_output_tokens": StopReason.MAX_TOKENS,
    "cyber_policy": StopReason.REFUSAL,
    "misalignment_policy_violation": StopReason.REFUSAL,
}

_HANDLERS = {
    "agent.session.turn.created": Translator._turn_created,
    "agent.session.turn.completed": Translator._turn_ended,
    "agent.session.turn.failed": Translator._turn_ended,
    "agent.session.turn.cancelled": Translator._turn_ended,
    "agent.session.requires_action": Translator._snapshot,
    "agent.session.idle": Translator._snapshot,
    "agent.session.budget_reached": Translator._snapshot,
    "agent.session.failed": Translator._snapshot,
    "agent.session.turn.output_text.delta": Translator._text_delta,
    "agent.session.turn.reasoning_summary_text.delta": Translator._thinking_delta,
    "agent.session.turn.item.done": Translator._item_done,
    "error": Translator._error,
}
