"""The neutral stream of a run, translated into Open Responses events and a response object.

One :class:`ResponseTranslation` per reading of a run: fed the run's events in order, it
returns the Responses events they mean (``response.created`` ... ``response.completed``) and
keeps the response object up to date. It is deterministic, so reading a run's log again gives
the same events with the same sequence numbers, which is how ``starting_after`` resumes.

Tools run in the router, not in the client, so a tool call is an ``mcp_call`` output item
(a call the server made, with its output) rather than a ``function_call`` the client would have
to answer. Text is a ``message`` item with one ``output_text`` part; reasoning a ``reasoning``
item with one ``reasoning_text`` part. A run's error is the response's ``error`` with the
router's neutral code (``rate_limited``, ``provider_error``...).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
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
    Usage,
)
from copass_router._types import (
    AssistantItem,
    StopReason,
    TokenCounts,
    ToolCallItem,
    ToolResultItem,
    TranscriptTurn,
)
from copass_router.server._responses_request import ResponseId

SERVER_LABEL = "copass-router"

_STATUS = {
    StopReason.END_TURN: ("completed", None),
    StopReason.REFUSAL: ("completed", None),
    StopReason.MAX_TOKENS: ("incomplete", "max_output_tokens"),
    StopReason.TOOL_LIMIT: ("incomplete", "max_tool_calls"),
    StopReason.BUDGET: ("incomplete", "budget"),
    StopReason.CANCELLED: ("cancelled", None),
    StopReason.ERROR: ("failed", None),
}
_FINAL_EVENT = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "cancelled": "response.incomplete",
    "failed": "response.failed",
}


def usage_object(usage: TokenCounts) -> dict[str, Any]:
    """Token counts as a Responses ``usage`` (input includes the cached prompt)."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


def response_object(
    response_id: ResponseId,
    model: str,
    *,
    instructions: str | None = None,
    tools: tuple[Mapping[str, Any], ...] = (),
    previous_response_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    background: bool | None = None,
    temperature: float | None = None,
    max_output_tokens: int | None = None,
) -> dict[str, Any]:
    """A response object as it stands before its run produced anything (``background``: None
    when not known, as for a response read back from the run log)."""
    return {
        "id": response_id.encode(),
        "object": "response",
        "created_at": response_id.created_at,
        "status": "in_progress",
        "background": background,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions,
        "metadata": dict(metadata or {}),
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": previous_response_id,
        "store": True,
        "temperature": temperature,
        "max_output_tokens": max_output_tokens,
        "tool_choice": "auto",
        "tools": [dict(t) for t in tools],
        "top_p": None,
        "truncation": "disabled",
        "usage": None,
        "conversation": None,
    }


class ResponseTranslation:
    """Translates one run's events into Responses events (see the module docstring)."""

    def __init__(self, response: dict[str, Any], run_id: str) -> None:
        self.response = response
        self._tag = run_id.removeprefix("run_")
        self.sequence = 0
        self._item_ids = 0
        self._text: dict[str, Any] | None = None  # the open message item
        self._reasoning: dict[str, Any] | None = None  # the open reasoning item
        self._calls: dict[str, dict[str, Any]] = {}  # tool calls waiting for their result
        self._error: Error | None = None
        self._usage = TokenCounts()

    @property
    def finished(self) -> bool:
        """The run has ended (the response has its final status)."""
        return self.response["status"] not in ("in_progress", "queued")

    def feed(self, event: Event) -> list[dict[str, Any]]:
        """The Responses events ``event`` means, numbered on from the previous ones."""
        out: list[dict[str, Any]] = []
        if isinstance(event, RunStarted):
            if not self.response["model"]:  # read back from the log: the model that ran
                self.response["model"] = f"{event.provider}/{event.model}"
            self._emit(out, "response.created", response=self._snapshot())
            self._emit(out, "response.in_progress", response=self._snapshot())
        elif isinstance(event, TextDelta):
            self._close_reasoning(out)
            self._text_delta(out, event.text)
        elif isinstance(event, Message):
            self._close_reasoning(out)
            if self._text is None:
                self._text_delta(out, event.text)
            self._close_text(out, event.text)
        elif isinstance(event, ThinkingDelta):
            self._close_text(out)
            self._reasoning_delta(out, event.text)
        elif isinstance(event, ThinkingMessage):
            self._close_text(out)
            if self._reasoning is None:
                self._reasoning_delta(out, event.text)
            self._close_reasoning(out, event.text)
        elif isinstance(event, ToolCall):
            self._close_text(out)
            self._close_reasoning(out)
            self._tool_call(out, event)
        elif isinstance(event, ToolResult):
            self._tool_result(out, event)
        elif isinstance(event, Usage):
            self._usage += event.as_token_usage()
        elif isinstance(event, Error):
            self._error = event
        elif isinstance(event, RunFinished):
            self._finish(out, event)
        return out

    # -- items ----------------------------------------------------------------------------

    def _emit(self, out: list[dict[str, Any]], kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": self.sequence, **fields})
        self.sequence += 1

    def _new_item(self, out: list[dict[str, Any]], item: dict[str, Any]) -> int:
        self._item_ids += 1
        item["id"] = f"{item['type'][:3]}_{self._tag}_{self._item_ids}"
        output = self.response["output"]
        output.append(item)
        index = len(output) - 1
        self._emit(out, "response.output_item.added", output_index=index, item=copy.deepcopy(item))
        return index

    def _text_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._text is None:
            item: dict[str, Any] = {
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            index = self._new_item(out, item)
            part = {"type": "output_text", "text": "", "annotations": []}
            item["content"].append(part)
            self._text = item
            self._emit(out, "response.content_part.added", **self._where(item, index), part=part)
        item = self._text
        item["content"][0]["text"] += text
        self._emit(out, "response.output_text.delta", **self._where(item), delta=text, logprobs=[])

    def _close_text(self, out: list[dict[str, Any]], text: str | None = None) -> None:
        item, self._text = self._text, None
        if item is None:
            return
        part = item["content"][0]
        if text is not None:
            part["text"] = text
        where = self._where(item)
        self._emit(out, "response.output_text.done", **where, text=part["text"], logprobs=[])
        self._emit(out, "response.content_part.done", **where, part=copy.deepcopy(part))
        item["status"] = "completed"
        self._item_done(out, item)

    def _reasoning_delta(self, out: list[dict[str, Any]], text: str) -> None:
        if self._reasoning is None:
            item: dict[str, Any] = {
                "type": "reasoning",
                "summary": [],
                "content": [],
                "status": "in_progress",
            }
            index = self._new_item(out, item)
            part = {"type": "reasoning_text", "text": ""}
            item["content"].append(part)
            self._reasoning = item
            self._emit(out, "response.content_part.added", **self._where(item, index), part=part)
        item = self._reasoning
        item["content"][0]["text"] += text
        self._emit(out, "response.reasoning_text.delta", **self._where(item), delta=text)

    def _close_reasoning(self, out: list[dict[str, Any]], text: str | None = None) -> None:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return
        part = item["content"][0]
        if text is not None:
            part["text"] = text
        where = self._where(item)
        self._emit(out, "response.reasoning_text.done", **where, text=part["text"])
        self._emit(out, "response.content_part.done", **where, part=copy.deepcopy(part))
        item["status"] = "completed"
        self._item_done(out, item)

    def _tool_call(self, out: list[dict[str, Any]], event: ToolCall) -> None:
        arguments = json.dumps(dict(event.arguments), separators=(",", ":"), default=str)
        item = {
            "type": "mcp_call",
            "name": event.name,
            "arguments": "",
            "server_label": SERVER_LABEL,
            "status": "in_progress",
            "output": None,
            "error": None,
        }
        index = self._new_item(out, item)
        item["arguments"] = arguments
        where = {"item_id": item["id"], "output_index": index}
        self._emit(out, "response.mcp_call_arguments.delta", **where, delta=arguments)
        self._emit(out, "response.mcp_call_arguments.done", **where, arguments=arguments)
        self._emit(out, "response.mcp_call.in_progress", **where)
        self._calls[event.call_id] = item

    def _tool_result(self, out: list[dict[str, Any]], event: ToolResult) -> None:
        item = self._calls.pop(event.call_id, None)
        if item is None:
            return
        item["output"] = event.output
        item["status"] = "failed" if event.is_error else "completed"
        kind = "response.mcp_call.failed" if event.is_error else "response.mcp_call.completed"
        self._emit(out, kind, item_id=item["id"], output_index=self._index(item))
        self._item_done(out, item)

    def _item_done(self, out: list[dict[str, Any]], item: dict[str, Any]) -> None:
        self._emit(
            out,
            "response.output_item.done",
            output_index=self._index(item),
            item=copy.deepcopy(item),
        )

    def _index(self, item: dict[str, Any]) -> int:
        return next(i for i, kept in enumerate(self.response["output"]) if kept is item)

    def _where(self, item: dict[str, Any], index: int | None = None) -> dict[str, Any]:
        return {
            "item_id": item["id"],
            "output_index": self._index(item) if index is None else index,
            "content_index": 0,
        }

    # -- the end --------------------------------------------------------------------------

    def _finish(self, out: list[dict[str, Any]], event: RunFinished) -> None:
        self._close_text(out)
        self._close_reasoning(out)
        for item in self._calls.values():  # calls the run ended before answering
            item["status"] = "incomplete"
            self._item_done(out, item)
        self._calls.clear()
        status, reason = _STATUS.get(event.stop_reason, ("failed", None))
        response = self.response
        response["status"] = status
        if reason is not None:
            response["incomplete_details"] = {"reason": reason}
        if status == "cancelled":
            response["incomplete_details"] = {"reason": "cancelled"}
        if status == "failed" or (self._error is not None and status != "completed"):
            error = self._error
            response["error"] = {
                "code": error.code if error else "internal_error",
                "message": error.message if error else "the run failed",
            }
        usage = event.usage if event.usage != TokenCounts() else self._usage
        response["usage"] = usage_object(usage)
        self._emit(out, _FINAL_EVENT[status], response=self._snapshot())

    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.response)


def response_from_turn(response_id: ResponseId, turn: TranscriptTurn) -> dict[str, Any]:
    """A finished response rebuilt from its turn in the session's transcript (once the run's
    log is gone): its text, tool calls and usage; reasoning is not kept there."""
    translation = ResponseTranslation(response_object(response_id, ""), turn.run_id)
    events: list[Event] = [
        RunStarted(
            run_id=turn.run_id,
            session_id=response_id.session_id,
            provider=turn.provider,
            model=turn.model,
        )
    ]
    for item in turn.items:
        if isinstance(item, AssistantItem):
            events.append(Message(text=item.text))
        elif isinstance(item, ToolCallItem):
            events.append(ToolCall(call_id=item.call_id, name=item.name, arguments=item.arguments))
        elif isinstance(item, ToolResultItem):
            events.append(
                ToolResult(
                    call_id=item.call_id, name=item.name, output=item.output, is_error=item.is_error
                )
            )
    stop = turn.stop_reason or StopReason.ERROR  # a turn that never finished was interrupted
    events.append(RunFinished(stop_reason=stop, usage=turn.usage))
    for event in events:
        translation.feed(event)
    return translation.response
