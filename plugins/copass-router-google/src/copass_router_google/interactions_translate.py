"""Interactions API stream events -> neutral events, and neutral messages -> input steps.

The stream of one interaction is ``interaction.created``, then per step ``step.start`` (the
step's type, and for a function call its id and name), ``step.delta`` pieces (text, thought
summaries, argument fragments) and ``step.stop``, then ``interaction.status_update`` and
``interaction.completed`` with the usage. Events carry no ids beyond the step index, so steps
are keyed by index. Built-in tool steps (code execution, search) have no neutral meaning and
pass on as ``ProviderEvent``\\ s; function calls are the router's tools and end the step with
``requires_action``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from copass_router import (
    ChatMessage,
    Error,
    Event,
    Message,
    ProviderEvent,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCallRequest,
    Usage,
    scrub,
)

from .parts import user_content

PROVIDER = "gemini-agents"

#: How an interaction's final status ends the model request.
STOP_REASONS = {
    "completed": StopReason.END_TURN,
    "requires_action": StopReason.END_TURN,
    "incomplete": StopReason.MAX_TOKENS,
    "failed": StopReason.ERROR,
    "cancelled": StopReason.CANCELLED,
    "budget_exceeded": StopReason.BUDGET,
}


def field(obj: Any, name: str) -> Any:
    """``obj.name`` for an SDK model, ``obj[name]`` for a dict, or the raw payload's field of
    a type the SDK does not know."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "is_unknown", False):
        raw = getattr(obj, "raw", None)
        return raw.get(name) if isinstance(raw, Mapping) else None
    return value


def dump(obj: Any) -> Any:
    """A JSON-ready copy of an SDK model (for ``provider_data``)."""
    if isinstance(obj, Mapping | list | str | int | float | bool) or obj is None:
        return obj
    if getattr(obj, "is_unknown", False):
        return field(obj, "raw")
    dumper = getattr(obj, "model_dump", None)
    return dumper(mode="json", by_alias=True, exclude_none=True) if dumper else str(obj)


@attrs.define
class _Step:
    kind: str
    text: list[str] = attrs.field(factory=list)
    call_id: str = ""
    name: str = ""
    arguments: Any = None


class StreamTranslator:
    """Translates one interaction's stream; :meth:`feed` per event, then the outcome."""

    def __init__(self) -> None:
        self.interaction_id: str | None = None
        self.status: str | None = None
        self.usage: Any = None
        self.tool_calls: list[ToolCallRequest] = []
        self.errored = False
        self._steps: dict[int, _Step] = {}

    @property
    def finished(self) -> bool:
        """Whether the interaction reached a final status."""
        return self.status is not None and self.status not in ("in_progress", "queued")

    @property
    def stop_reason(self) -> StopReason:
        """Why the model request ended."""
        if self.errored:
            return StopReason.ERROR
        return STOP_REASONS.get(self.status or "", StopReason.END_TURN)

    def feed(self, event: Any) -> list[Event]:
        """The neutral events for one SDK stream event."""
        kind = field(event, "event_type")
        if kind in ("interaction.created", "interaction.completed"):
            interaction = field(event, "interaction")
            self.interaction_id = field(interaction, "id") or self.interaction_id
            if kind == "interaction.completed":
                self.status = field(interaction, "status") or self.status
                self.usage = field(interaction, "usage") or self.usage
            return []
        if kind == "interaction.status_update":
            self.interaction_id = field(event, "interaction_id") or self.interaction_id
            self.status = field(event, "status")
            self.usage = field(event, "usage") or self.usage
            return []
        if kind == "step.start":
            return self._start(field(event, "index"), field(event, "step"))
        if kind == "step.delta":
            return self._delta(field(event, "index"), field(event, "delta"))
        if kind == "step.stop":
            return self._stop(field(event, "index"))
        if kind == "error":
            self.errored = True
            return [error_event(field(event, "error"))]
        return [ProviderEvent(kind=str(kind), provider_data={PROVIDER: dump(event)})]

    def _start(self, index: int, step: Any) -> list[Event]:
        kind = str(field(step, "type"))
        state = _Step(kind)
        self._steps[index] = state
        if kind == "function_call":
            state.call_id = str(field(step, "id") or "")
            state.name = str(field(step, "name") or "")
            state.arguments = field(step, "arguments") or None
            return []
        if kind in ("model_output", "thought", "user_input", "function_result"):
            return []
        # A built-in tool's call or result (code execution, search...): the vendor ran it.
        return [ProviderEvent(kind=kind, provider_data={PROVIDER: dump(step)})]

    def _delta(self, index: int, delta: Any) -> list[Event]:
        state = self._steps.get(index)
        kind = field(delta, "type")
        if state is None:
            return []
        if kind == "text":
            text = str(field(delta, "text") or "")
            state.text.append(text)
            return [TextDelta(text=text)] if state.kind == "model_output" and text else []
        if kind == "thought_summary":
            text = str(field(field(delta, "content"), "text") or "")
            state.text.append(text)
            return [ThinkingDelta(text=text)] if text else []
        if kind == "arguments_delta":
            state.text.append(str(field(delta, "arguments") or ""))
            return []
        if kind == "thought_signature":
            return []  # kept by the service in the interaction chain: the same runtime only
        return [ProviderEvent(kind=f"{state.kind}.{kind}", provider_data={PROVIDER: dump(delta)})]

    def _stop(self, index: int) -> list[Event]:
        state = self._steps.pop(index, None)
        if state is None:
            return []
        text = "".join(state.text)
        if state.kind == "model_output":
            return [Message(text=text)] if text else []
        if state.kind == "thought":
            return [ThinkingMessage(text=text)] if text else []
        if state.kind == "function_call":
            self.tool_calls.append(
                ToolCallRequest(state.call_id, state.name, _arguments(state.arguments, text))
            )
        return []

    def usage_event(self) -> Usage | None:
        """The request's usage, once the interaction reported it."""
        if self.usage is None:
            return None

        def count(name: str) -> int:
            return int(field(self.usage, name) or 0)

        cached = count("total_cached_tokens")
        return Usage(
            input_tokens=count("total_input_tokens") + count("total_tool_use_tokens") - cached,
            output_tokens=count("total_output_tokens") + count("total_thought_tokens"),
            cache_read_tokens=cached,
            provider_data={PROVIDER: {"usage": dump(self.usage)}},
        )


def _arguments(start: Any, pieces: str) -> dict[str, Any]:
    if pieces:
        try:
            parsed = json.loads(pieces)
        except json.JSONDecodeError:
            return {"_raw_arguments": pieces}
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    return dict(start) if isinstance(start, Mapping) else {}


def error_event(error: Any) -> Error:
    """An in-band ``error`` event as a neutral :class:`Error`: the API's own code
    (``RESOURCE_EXHAUSTED``...), which the core maps onto the neutral vocabulary."""
    return Error(
        code=str(field(error, "code") or "provider_error"),
        message=scrub(str(field(error, "message") or "the interaction failed")),
        provider=PROVIDER,
    )


def input_steps(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Neutral messages as the API's own input steps (never one pasted blob): user turns as
    ``user_input``, answers as ``model_output``, tool calls and results as ``function_call`` /
    ``function_result`` steps. System messages are not steps (``system_instruction`` is)."""
    steps: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            steps.append({"type": "user_input", "content": user_content(message)})
        elif message.role == "assistant":
            if message.text:
                steps.append({"type": "model_output", "content": [_text(message.text)]})
            steps.extend(
                {
                    "type": "function_call",
                    "id": call.call_id,
                    "name": call.name,
                    "arguments": dict(call.arguments),
                }
                for call in message.tool_calls
            )
        elif message.role == "tool":
            steps.append(
                result_step(message.call_id or "", message.name, message.text, message.is_error)
            )
    return steps


def result_step(call_id: str, name: str | None, output: str, is_error: bool) -> dict[str, Any]:
    """The ``function_result`` step answering one call."""
    step: dict[str, Any] = {"type": "function_result", "call_id": call_id, "result": output}
    if name:
        step["name"] = name
    if is_error:
        step["is_error"] = True
    return step


def _text(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}
