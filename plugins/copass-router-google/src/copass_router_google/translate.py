"""ADK events (as Agent Engine streams them) -> neutral events.

Agent Engine streams ADK ``Event`` dumps: snake_case, unset fields dropped. With SSE streaming
mode, text and thoughts arrive as ``partial: true`` chunks, then one aggregated event (no
``partial``) carrying the whole text, ``usage_metadata`` and ``finish_reason``.

- partial text -> TextDelta; partial thought -> ThinkingDelta
- aggregated text -> Message (a TextDelta first if nothing was streamed for it); thoughts ->
  ThinkingMessage
- usage_metadata -> Usage; error_code / error_message -> Error (stop reason ``error``)
- finish_reason MAX_TOKENS -> ``max_tokens``; SAFETY and kin -> ``refusal``
- copass_dispatch calls and responses are dropped: the router's dispatch endpoint already put
  ToolCall/ToolResult with the real tool name into the run. Calls of any other (ADK-side) tool
  map to ToolCall/ToolResult.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from copass_router import (
    Error,
    Event,
    Message,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    Usage,
)

PROVIDER = "google"
PROXY_TOOL = "copass_dispatch"

_REFUSALS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)


class AdkEventTranslator:
    """Turns one turn's ADK event dumps into neutral events; tracks the stop reason."""

    def __init__(self) -> None:
        self.stop_reason = StopReason.END_TURN
        self._streamed_text = False
        self._streamed_thought = False

    def feed(self, event: Mapping[str, Any]) -> list[Event]:
        """The neutral events for one ADK event."""
        out: list[Event] = []
        if event.get("error_code") or event.get("error_message"):
            out.append(self._error(event))
        content = event.get("content") or {}
        parts = [p for p in content.get("parts") or [] if isinstance(p, Mapping)]
        if event.get("partial"):
            out.extend(self._partial(parts))
            return out
        out.extend(self._final(parts, event))
        usage = event.get("usage_metadata")
        if isinstance(usage, Mapping):
            out.append(self._usage(usage))
        self._finish(event.get("finish_reason"))
        return out

    def _partial(self, parts: list[Mapping[str, Any]]) -> list[Event]:
        out: list[Event] = []
        for part in parts:
            text = part.get("text")
            if not text:
                continue
            if part.get("thought"):
                self._streamed_thought = True
                out.append(ThinkingDelta(text=text))
            else:
                self._streamed_text = True
                out.append(TextDelta(text=text))
        return out

    def _final(self, parts: list[Mapping[str, Any]], event: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        data = {PROVIDER: {k: event[k] for k in ("id", "invocation_id", "author") if k in event}}
        for part in parts:
            text = part.get("text")
            if text and part.get("thought"):
                if not self._streamed_thought:
                    out.append(ThinkingDelta(text=text))
                out.append(ThinkingMessage(text=text, provider_data=data))
                self._streamed_thought = False
            elif text:
                if not self._streamed_text:
                    out.append(TextDelta(text=text))
                out.append(Message(role="assistant", text=text, provider_data=data))
                self._streamed_text = False
            elif isinstance(part.get("function_call"), Mapping):
                out.extend(self._call(part["function_call"]))
            elif isinstance(part.get("function_response"), Mapping):
                out.extend(self._response(part["function_response"]))
        return out

    @staticmethod
    def _call(call: Mapping[str, Any]) -> list[Event]:
        if call.get("name") == PROXY_TOOL:
            return []
        return [
            ToolCall(
                call_id=str(call.get("id") or ""),
                name=str(call.get("name") or ""),
                arguments=dict(call.get("args") or {}),
                provider_data={PROVIDER: {"adk_tool": True}},
            )
        ]

    @staticmethod
    def _response(response: Mapping[str, Any]) -> list[Event]:
        if response.get("name") == PROXY_TOOL:
            return []
        payload = response.get("response")
        output = payload.get("result", payload) if isinstance(payload, Mapping) else payload
        return [
            ToolResult(
                call_id=str(response.get("id") or ""),
                name=str(response.get("name") or ""),
                output=output if isinstance(output, str) else json.dumps(output, default=str),
                provider_data={PROVIDER: {"adk_tool": True}},
            )
        ]

    @staticmethod
    def _usage(usage: Mapping[str, Any]) -> Usage:
        output = int(usage.get("candidates_token_count") or 0)
        output += int(usage.get("thoughts_token_count") or 0)
        return Usage(
            input_tokens=int(usage.get("prompt_token_count") or 0),
            output_tokens=output,
            cache_read_tokens=int(usage.get("cached_content_token_count") or 0),
        )

    def _error(self, event: Mapping[str, Any]) -> Error:
        code = str(event.get("error_code") or "provider_error")
        self.stop_reason = StopReason.ERROR
        return Error(  # the core maps ADK's own code onto the neutral vocabulary
            code=code,
            message=str(event.get("error_message") or code),
            provider=PROVIDER,
            detail={
                "provider_code": code,
                **{k: event[k] for k in ("invocation_id", "author", "id") if k in event},
            },
        )

    def _finish(self, reason: Any) -> None:
        if self.stop_reason is StopReason.ERROR or not isinstance(reason, str):
            return
        if reason == "STOP":
            self.stop_reason = StopReason.END_TURN
        elif reason == "MAX_TOKENS":
            self.stop_reason = StopReason.MAX_TOKENS
        elif reason in _REFUSALS:
            self.stop_reason = StopReason.REFUSAL
