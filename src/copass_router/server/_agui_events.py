"""The neutral stream of a run, translated into AG-UI events (camelCase JSON, as on the wire).

One :class:`AguiTranslation` per reading of a run. It is deterministic: reading a run's log
again gives the same events in the same places, so an event's position (the SSE ``id``,
``<run id>:<n>``) is how a client resumes. Tool calls are ones the router ran, so each
``TOOL_CALL_START``/``ARGS``/``END`` is followed by its ``TOOL_CALL_RESULT``; the client has
nothing to run. A run that failed ends in ``RUN_ERROR`` with the router's neutral ``code``; a
cancelled one in ``RUN_FINISHED`` with the ``cancelled`` outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from copass_router._events import (
    Error,
    Event,
    Message,
    RunFinished,
    RunStarted,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
)
from copass_router._types import (
    AssistantItem,
    StopReason,
    ToolCallItem,
    ToolResultItem,
    TranscriptTurn,
)

STATE_KEY = "copassRouter"  # the router's part of the thread's state


def token_usage(event: RunFinished) -> dict[str, Any]:
    """The run's usage as an AG-UI ``TokenUsage`` (input includes the cached prompt)."""
    usage = event.usage
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "provider": event.provider or None,
        "model": event.model or None,
        "inputTokens": prompt,
        "outputTokens": usage.output_tokens,
        "cachedInputTokens": usage.cache_read_tokens,
        "cacheWriteInputTokens": usage.cache_write_tokens,
        "totalTokens": prompt + usage.output_tokens,
    }


class AguiTranslation:
    """Translates one run's events into AG-UI events for ``thread_id``/``run_id``.

    :param state: the thread's state as the client sent it; the first ``STATE_SNAPSHOT`` is
        that state with the router's part (session, provider, model) added.
    """

    def __init__(self, thread_id: str, run_id: str, state: Any = None) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.state = dict(state) if isinstance(state, Mapping) else {}
        self.count = 0  # events produced so far: the next one's position
        self._messages = 0
        self._text: str | None = None  # the open text message's id
        self._reasoning: str | None = None  # the open reasoning message's id
        self._error: Error | None = None
        self._tag = ""
        self.finished = False  # RUN_FINISHED or RUN_ERROR was produced

    def feed(self, event: Event) -> list[dict[str, Any]]:
        """The AG-UI events ``event`` means."""
        out: list[dict[str, Any]] = []
        if isinstance(event, RunStarted):
            self._tag = event.run_id.removeprefix("run_")
            self._emit(out, "RUN_STARTED", threadId=self.thread_id, runId=self.run_id)
            router = {"sessionId": event.session_id, "provider": event.provider}
            router["model"] = event.model
            self._emit(out, "STATE_SNAPSHOT", snapshot={**self.state, STATE_KEY: router})
        elif isinstance(event, TextDelta):
            self._close_reasoning(out)
            self._text_delta(out, event.text)
        elif isinstance(event, Message):
            self._close_reasoning(out)
            if self._text is None:
                self._text_delta(out, event.text)
            self._close_text(out)
        elif isinstance(event, ThinkingDelta):
            self._close_text(out)
            self._reasoning_delta(out, event.text)
        elif isinstance(event, ThinkingMessage):
            self._close_text(out)
            if self._reasoning is None:
                self._reasoning_delta(out, event.text)
            self._close_reasoning(out)
        elif isinstance(event, ToolCall):
            self._close_text(out)
            self._close_reasoning(out)
            arguments = json.dumps(dict(event.arguments), separators=(",", ":"), default=str)
            call = {"toolCallId": event.call_id}
            self._emit(out, "TOOL_CALL_START", **call, toolCallName=event.name)
            self._emit(out, "TOOL_CALL_ARGS", **call, delta=arguments)
            self._emit(out, "TOOL_CALL_END", **call)
        elif isinstance(event, ToolResult):
            self._emit(
                out,
                "TOOL_CALL_RESULT",
                messageId=self._new_id("tool"),
                toolCallId=event.call_id,
                content=event.output,
                role="tool",
            )
        elif isinstance(event, Error):
            self._error = event
        elif isinstance(event, RunFinished):
            self._finish(out, event)
        return out

    def _emit(self, out: list[dict[str, Any]], kind: str, **fields: Any) -> None:
        out.append({"type": kind, **fields})
        self.count += 1

    def _new_id(self, kind: str) -> str:
        self._messages += 1
        return f"{kind}_{self._tag}_{self._messages}"

    def _text_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._text is None:
            self._text = self._new_id("msg")
            self._emit(out, "TEXT_MESSAGE_START", messageId=self._text, role="assistant")
        if text:
            self._emit(out, "TEXT_MESSAGE_CONTENT", messageId=self._text, delta=text)

    def _close_text(self, out: list[dict[str, Any]]) -> None:
        if self._text is not None:
            self._emit(out, "TEXT_MESSAGE_END", messageId=self._text)
            self._text = None

    def _reasoning_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._reasoning is None:
            self._reasoning = self._new_id("reasoning")
            self._emit(out, "REASONING_START", messageId=self._reasoning)
            self._emit(out, "REASONING_MESSAGE_START", messageId=self._reasoning, role="reasoning")
        if text:
            self._emit(out, "REASONING_MESSAGE_CONTENT", messageId=self._reasoning, delta=text)

    def _close_reasoning(self, out: list[dict[str, Any]]) -> None:
        if self._reasoning is not None:
            self._emit(out, "REASONING_MESSAGE_END", messageId=self._reasoning)
            self._emit(out, "REASONING_END", messageId=self._reasoning)
            self._reasoning = None

    def _finish(self, out: list[dict[str, Any]], event: RunFinished) -> None:
        self.finished = True
        self._close_text(out)
        self._close_reasoning(out)
        if event.stop_reason == StopReason.ERROR:
            error = self._error
            self._emit(
                out,
                "RUN_ERROR",
                message=error.message if error else "the run failed",
                code=error.code if error else "internal_error",
                usage=[token_usage(event)],
            )
            return
        outcome = "cancelled" if event.stop_reason == StopReason.CANCELLED else "success"
        result: dict[str, Any] = {"stopReason": event.stop_reason.value}
        if self._error is not None:
            result["error"] = {"code": self._error.code, "message": self._error.message}
        self._emit(
            out,
            "RUN_FINISHED",
            threadId=self.thread_id,
            runId=self.run_id,
            outcome={"type": outcome},
            result=result,
            usage=[token_usage(event)],
        )


def messages_snapshot(turns: Iterable[TranscriptTurn]) -> list[dict[str, Any]]:
    """A session's transcript as AG-UI messages (user, assistant with tool calls, tool)."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        tag = turn.run_id.removeprefix("run_")
        messages.append({"id": f"user_{tag}", "role": "user", "content": turn.user})
        calls: list[dict[str, Any]] = []
        for n, item in enumerate(turn.items, 1):
            if isinstance(item, AssistantItem):
                calls = []
                messages.append({"id": f"msg_{tag}_{n}", "role": "assistant", "content": item.text})
            elif isinstance(item, ToolCallItem):
                arguments = json.dumps(dict(item.arguments), separators=(",", ":"), default=str)
                call = {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": arguments},
                }
                if not calls:  # the first of the calls made together: one assistant message
                    messages.append(
                        {"id": f"calls_{tag}_{n}", "role": "assistant", "toolCalls": calls}
                    )
                calls.append(call)
            elif isinstance(item, ToolResultItem):
                calls = []
                messages.append(
                    {
                        "id": f"tool_{tag}_{n}",
                        "role": "tool",
                        "toolCallId": item.call_id,
                        "content": item.output,
                        **({"error": item.output} if item.is_error else {}),
                    }
                )
    return messages
