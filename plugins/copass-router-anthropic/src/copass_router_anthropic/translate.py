"""Managed Agents stream events -> neutral events (and the actions a turn must take).

:class:`Translator` is fed each event of one turn's stream, in order, and returns the neutral
events to yield plus :class:`ToolUse` / :class:`Confirm` actions for the turn driver. It knows
every event type the SDK declares; anything else becomes a ``ProviderEvent`` carrying the raw
event under ``provider_data["anthropic"]``. Nothing is dropped except the echoes of what this
client itself sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from copass_router import (
    Error,
    Event,
    Message,
    ProviderEvent,
    StopReason,
    TextDelta,
    TokenCounts,
    ToolCall,
    ToolCallRequest,
    ToolResult,
    Usage,
)

from .actions import Action, Confirm, ToolUse
from .event_stream import TextRun

PROVIDER = "anthropic"

#: Idle stop reasons that end a turn, and what they mean in neutral terms.
_IDLE_STOPS = {
    "end_turn": StopReason.END_TURN,
    "retries_exhausted": StopReason.ERROR,
    "budget_reached": StopReason.BUDGET,
    "refusal": StopReason.REFUSAL,
}
#: Neutral codes for session error types with an obvious common name.
#: session.error types -> the core's neutral codes (the type itself stays in ``detail``).
#: Events this client sent, echoed back by the stream: already known, not news.
_ECHOES = frozenset(
    {
        "user.message",
        "user.interrupt",
        "user.custom_tool_result",
        "user.tool_confirmation",
        "user.tool_result",
        "user.define_outcome",
        "system.message",
    }
)


def raw(event: Any) -> dict[str, Any]:
    """The event as JSON-ready data, as the API sent it."""
    to_dict = getattr(event, "to_dict", None)
    if callable(to_dict):
        data: dict[str, Any] = to_dict(mode="json")
        return data
    return dict(event) if isinstance(event, Mapping) else {"value": str(event)}


@functools.cache
def _declares_id(cls: type) -> bool:
    """Whether the SDK's event class has an ``id`` field (delta events have none; fixed when the
    class is made). Not an SDK model (no ``model_fields``): ask the object."""
    fields = getattr(cls, "model_fields", None)
    return fields is None or "id" in fields


def _event_id(event: Any) -> Any:
    """The event's ``id``, None if it has none. Asking a pydantic model for a field it lacks
    raises and catches an AttributeError inside pydantic: microseconds on every text delta."""
    cls: type = type(event)
    if _declares_id(cls):
        return getattr(event, "id", None)
    return (getattr(event, "__pydantic_extra__", None) or {}).get("id")


def _pd(data: Mapping[str, Any]) -> dict[str, Any]:
    return {PROVIDER: dict(data)}


def _text(blocks: Any) -> str:
    return "".join(getattr(b, "text", "") or "" for b in blocks or () if _is_text(b))


def _is_text(block: Any) -> bool:
    return getattr(block, "type", None) == "text"


class Translator:
    """Translates one turn's events. ``stop_reason`` is set once the turn is over."""

    def __init__(self) -> None:
        self.stop_reason: StopReason | None = None
        #: The session ended for good (terminated or deleted): never send it another turn.
        self.session_over = False
        #: Token counts reported by ``span.model_request_end`` events.
        self.reported = TokenCounts()
        #: The latest ``session.usage`` snapshot (cumulative over the session).
        self.session_usage: Mapping[str, Any] | None = None
        self._awaited: str | None = None
        self._started = False
        self._seen: set[str] = set()
        self._previews: dict[str, dict[int, str]] = {}
        self._tool_names: dict[str, str] = {}
        self._round = ""
        self._error_seen = False

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    def expect(self, message_event_id: str | None) -> None:
        """Ignore events until the echo of this user message (the turn's start) arrives.

        None (the API did not say which id it gave the message) starts the turn at once.
        """
        self._awaited = message_event_id
        self._started = message_event_id is None

    def translate(self, event: Any) -> list[Event | Action]:
        """Neutral events and actions for one stream event (each event id counts once).

        ``event`` is the SDK's model; deltas that arrived together come as a list of their
        decoded JSON objects (``dict``), and their text as one :class:`TextDelta`.
        """
        if type(event) is list:
            return self._deltas(event)
        event_id = _event_id(event)
        if isinstance(event_id, str):
            if event_id in self._seen:
                return []
            self._seen.add(event_id)
        kind = str(getattr(event, "type", ""))
        if kind == "user.message" and event_id == self._awaited:
            self._started = True
        if not self._started and kind not in ("session.status_terminated", "session.deleted"):
            return []  # left over from before this turn
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, event)
        if kind in _ECHOES:
            return []
        return [ProviderEvent(kind=kind, provider_data=_pd(raw(event)))]

    # --- text ------------------------------------------------------------------------------

    def _event_start(self, event: Any) -> list[Event | Action]:
        preview = getattr(event, "event", None)
        if getattr(preview, "type", None) == "agent.message":
            self._previews[str(preview.id)] = {}  # type: ignore[union-attr]
            return []
        return [ProviderEvent(kind="event_start", provider_data=_pd(raw(event)))]

    def _event_delta(self, event: Any) -> list[Event | Action]:
        delta = event.delta
        parts = self._previews.get(event.event_id)
        content = getattr(delta, "content", None)
        if (
            parts is None
            or getattr(delta, "type", None) != "content_delta"
            or not _is_text(content)
        ):
            return [ProviderEvent(kind="event_delta", provider_data=_pd(raw(event)))]
        index = int(getattr(delta, "index", None) or 0)
        text = str(getattr(content, "text", "") or "")
        parts[index] = parts.get(index, "") + text
        return [TextDelta(text=text)] if text else []

    def _deltas(self, events: list[Any]) -> list[Event | Action]:
        """Deltas that arrived together: the text of those in a row, as one TextDelta."""
        out: list[Event | Action] = []
        text: list[str] = []
        for event in events:
            if type(event) is dict:
                found = self._plain(event)
            elif type(event) is TextRun:
                found = self._run(event)
            else:
                found = self.translate(event)
            if isinstance(found, str):
                text.append(found)
                continue
            if text:
                out.append(TextDelta(text="".join(text)))
                text = []
            out.extend(found)
        if text:
            out.append(TextDelta(text="".join(text)))
        return out

    def _plain(self, data: dict[str, Any]) -> str | list[Event | Action]:
        """An ``event_delta`` as decoded JSON: its text, or what else it stands for."""
        event_id = data.get("id")
        if isinstance(event_id, str):
            if event_id in self._seen:
                return []
            self._seen.add(event_id)
        if not self._started:
            return []  # left over from before this turn
        delta = data.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        parts = self._previews.get(data.get("event_id"))  # type: ignore[arg-type]
        if (
            parts is None
            or not isinstance(content, dict)
            or delta.get("type") != "content_delta"  # type: ignore[union-attr]
            or content.get("type") != "text"
        ):
            return [ProviderEvent(kind=str(data.get("type")), provider_data=_pd(data))]
        index = int(delta.get("index") or 0)  # type: ignore[union-attr]
        text = str(content.get("text") or "")
        if text:
            parts[index] = parts.get(index, "") + text
            return text
        return []

    def _run(self, run: TextRun) -> str | list[Event | Action]:
        """Text deltas of one message block read together: their text, or (a message this
        turn never announced) what each delta stands for."""
        if not self._started:
            return []  # left over from before this turn
        parts = self._previews.get(run.event_id)
        if parts is None:
            return self._deltas(list(run.events()))
        if run.text:
            parts[run.index] = parts.get(run.index, "") + run.text
            return run.text
        return []

    def _agent_message(self, event: Any) -> list[Event | Action]:
        streamed = self._previews.pop(event.id, {})
        out: list[Event | Action] = []
        for index, block in enumerate(event.content or ()):
            if not _is_text(block):
                out.append(ProviderEvent(kind="agent.message.block", provider_data=_pd(raw(block))))
                continue
            text, sent = block.text or "", streamed.get(index, "")
            if text.startswith(sent) and len(text) > len(sent):
                out.append(TextDelta(text=text[len(sent) :]))  # what the previews missed
            if text:
                out.append(Message(text=text))
        return out

    # --- tools -----------------------------------------------------------------------------

    def _custom_tool_use(self, event: Any) -> list[Event | Action]:
        self._tool_names[event.id] = event.name
        call = ToolCallRequest(event.id, event.name, dict(event.input or {}))
        return [ToolUse(call, self._round)]

    def _builtin_tool_use(self, event: Any) -> list[Event | Action]:
        self._tool_names[event.id] = event.name
        server = getattr(event, "mcp_server_name", None)
        permission = getattr(event, "evaluated_permission", None)
        data = {"kind": event.type, "evaluated_permission": permission}
        if server:
            data["mcp_server_name"] = server
        out: list[Event | Action] = [
            ToolCall(
                call_id=event.id,
                name=event.name,
                arguments=dict(event.input or {}),
                provider_data=_pd(data),
            )
        ]
        if permission == "ask":
            out.append(Confirm(event.id, event.name, dict(event.input or {}), server))
        return out

    def _tool_result(self, event: Any) -> list[Event | Action]:
        use_id = str(getattr(event, "tool_use_id", None) or getattr(event, "mcp_tool_use_id", ""))
        return [
            ToolResult(
                call_id=use_id,
                name=self._tool_names.get(use_id, ""),
                output=_text(event.content),
                is_error=bool(event.is_error),
                provider_data=_pd({"kind": event.type}),
            )
        ]

    # --- usage, errors, status -------------------------------------------------------------

    def _span_start(self, event: Any) -> list[Event | Action]:
        self._round = event.id
        return [ProviderEvent(kind=event.type, provider_data=_pd(raw(event)))]

    def _span_end(self, event: Any) -> list[Event | Action]:
        u = event.model_usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
        )
        self.reported = self.reported + usage.as_token_usage()
        return [usage]

    def _session_usage(self, event: Any) -> list[Event | Action]:
        data = raw(event)
        self.session_usage = data.get("usage") or {}
        return [ProviderEvent(kind="session.usage", provider_data=_pd(data))]

    def _session_error(self, event: Any) -> list[Event | Action]:
        error = event.error
        error_type = str(getattr(error, "type", "unknown_error"))
        retry = str(getattr(getattr(error, "retry_status", None), "type", "terminal"))
        self._error_seen = retry != "retrying"
        return [
            Error(
                code=error_type,  # the core maps Anthropic's error type to a neutral code
                message=str(getattr(error, "message", "") or error_type),
                provider=PROVIDER,
                detail={"type": error_type, "retry_status": retry},
            )
        ]

    def _idle(self, event: Any) -> list[Event | Action]:
        reason = str(getattr(event.stop_reason, "type", ""))
        if reason == "requires_action":
            return []  # tool uses are answered as they arrive, whatever order this comes in
        self.stop_reason = _IDLE_STOPS.get(reason, StopReason.END_TURN)
        out: list[Event | Action] = []
        if reason not in _IDLE_STOPS:
            out.append(ProviderEvent(kind="session.status_idle", provider_data=_pd(raw(event))))
        if reason == "refusal" and getattr(event, "stop_details", None) is not None:
            out.append(ProviderEvent(kind="refusal", provider_data=_pd(raw(event))))
        if reason == "retries_exhausted" and not self._error_seen:
            out.append(
                Error(
                    code="retries_exhausted",
                    message="the agent's retries ran out",
                    provider=PROVIDER,
                )
            )
        return out

    def _ended(self, code: str, message: str) -> list[Event | Action]:
        self.stop_reason = StopReason.ERROR
        self.session_over = True
        return [Error(code=code, message=message, provider=PROVIDER)]

    def _terminated(self, event: Any) -> list[Event | Action]:
        if self._error_seen:
            self.stop_reason = StopReason.ERROR
            self.session_over = True
            return []
        return self._ended("server_error", "the Anthropic session terminated")

    def _deleted(self, event: Any) -> list[Event | Action]:
        return self._ended("not_found", "the Anthropic session was deleted")


_HANDLERS = {
    "event_start": Translator._event_start,
    "event_delta": Translator._event_delta,
    "agent.message": Translator._agent_message,
    "agent.custom_tool_use": Translator._custom_tool_use,
    "agent.tool_use": Translator._builtin_tool_use,
    "agent.mcp_tool_use": Translator._builtin_tool_use,
    "agent.tool_result": Translator._tool_result,
    "agent.mcp_tool_result": Translator._tool_result,
    "span.model_request_start": Translator._span_start,
    "span.model_request_end": Translator._span_end,
    "session.usage": Translator._session_usage,
    "session.error": Translator._session_error,
    "session.status_idle": Translator._idle,
    "session.status_terminated": Translator._terminated,
    "session.deleted": Translator._deleted,
}
