"""The neutral stream of a run, translated into the SSE frames of Copass's agent-run endpoint.

Copass's clients read four frame names, each with a JSON object on its ``data`` line:

- ``agent_text_delta``: ``{"text"}``, from ``text_delta`` (and a ``message`` no delta led up
  to, so a provider that answers in one piece still reaches the client);
- ``agent_tool_call``: ``{"call_id", "name", "arguments"}``, from ``tool_call``;
- ``agent_tool_result``: ``{"call_id", "name", "result", "error"}``, from ``tool_result``. The
  client takes ``result`` as an object: an output that is a JSON object is sent as it is, any
  other output as ``{"output": <text>}``; a failed tool sends ``result: {}`` and its output as
  ``error``;
- ``agent_finish``: ``{"stop_reason", "session_id", "usage", "provider", "model"}``, from
  ``run_finished``; ``usage`` holds the run's token counts by their neutral names.

A run's ``error`` becomes ``agent_error`` (``{"code", "message", "retryable"}``) just before
its ``agent_finish`` (whose ``stop_reason`` is then ``error``): Copass's Python client skips a
frame name it does not know, so it still ends on ``agent_finish``. The other neutral events
(reasoning, retries, approvals, structured output) have no Copass frame and are not sent;
``/v1/runs`` streams every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from copass_router._events import (
    Error,
    Event,
    Message,
    RunFinished,
    TextDelta,
    ToolCall,
    ToolResult,
)

TEXT_DELTA = "agent_text_delta"
TOOL_CALL = "agent_tool_call"
TOOL_RESULT = "agent_tool_result"
FINISH = "agent_finish"
ERROR = "agent_error"


def encode_frame(name: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame: its ``event`` name and its data as compact JSON on one line."""
    payload = json.dumps(data, separators=(",", ":"), default=str)
    return f"event: {name}\ndata: {payload}\n\n".encode()


def tool_result_object(output: str) -> dict[str, Any]:
    """A tool's output as the object Copass's clients read as ``result``."""
    try:
        value = json.loads(output)
    except ValueError:
        return {"output": output}
    return dict(value) if isinstance(value, dict) else {"output": output}


class CopassTranslation:
    """Translates one run's neutral events into Copass's frames, in order."""

    def __init__(self) -> None:
        self._streamed_text = False  # a text delta came since the last message
        self.finished = False  # agent_finish was produced

    def feed(self, event: Event) -> list[tuple[str, dict[str, Any]]]:
        """The frames (name and data) ``event`` means; none for an event Copass has no frame
        for."""
        if isinstance(event, TextDelta):
            self._streamed_text = True
            return [(TEXT_DELTA, {"text": event.text})] if event.text else []
        if isinstance(event, Message):
            streamed, self._streamed_text = self._streamed_text, False
            if streamed or not event.text:
                return []
            return [(TEXT_DELTA, {"text": event.text})]
        if isinstance(event, ToolCall):
            data: dict[str, Any] = {"call_id": event.call_id, "name": event.name}
            return [(TOOL_CALL, {**data, "arguments": dict(event.arguments)})]
        if isinstance(event, ToolResult):
            data = {"call_id": event.call_id, "name": event.name}
            if event.is_error:
                return [(TOOL_RESULT, {**data, "result": {}, "error": event.output or "failed"})]
            return [(TOOL_RESULT, {**data, "result": tool_result_object(event.output)})]
        if isinstance(event, Error):
            error = {"code": event.code, "message": event.message, "retryable": event.retryable}
            return [(ERROR, error)]
        if isinstance(event, RunFinished):
            self.finished = True
            finish = {
                "stop_reason": event.stop_reason.value,
                "session_id": event.session_id or None,
                "usage": attrs.asdict(event.usage),
                "provider": event.provider or None,
                "model": event.model or None,
            }
            return [(FINISH, finish)]
        return []
