"""The emulator's wire format: OpenAI chat messages in, scripted replies out as chunks.

Requests are checked the way the real API checks them (a tool message must answer a tool call
made just before it, every tool call must be answered, ids are at most 40 characters), so a
backend that would be refused by OpenAI is refused here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from copass_router import ChatMessage, Part, StopReason, ToolCallRequest
from copass_router.testing import ModelReply, schema_problems

from ._parts import PartError, user_parts

#: OpenAI refuses longer tool call ids ("string too long ... maximum length 40").
MAX_CALL_ID = 40
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

_FINISH = {
    StopReason.END_TURN: "stop",
    StopReason.REFUSAL: "stop",
    StopReason.MAX_TOKENS: "length",
}


class WireError(Exception):
    """A request the API refuses, rendered as OpenAI's error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}`` as the SDK parses it."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string, a list of text parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    raise WireError("Invalid type for 'content': expected a string or an array of parts.")


def _decode_arguments(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def _assistant(index: int, message: Mapping[str, Any]) -> ChatMessage:
    calls = []
    for n, call in enumerate(message.get("tool_calls") or []):
        call_id = str(call.get("id", ""))
        if len(call_id) > MAX_CALL_ID:
            raise WireError(
                f"Invalid 'messages[{index}].tool_calls[{n}].id': string too long. Expected a "
                f"string with maximum length {MAX_CALL_ID}, but got a string with length "
                f"{len(call_id)} instead.",
                param=f"messages[{index}].tool_calls[{n}].id",
                code="string_above_max_length",
            )
        function = call.get("function") or {}
        calls.append(
            ToolCallRequest(
                call_id, str(function.get("name", "")), _decode_arguments(function.get("arguments"))
            )
        )
    return ChatMessage("assistant", content_text(message.get("content")), tool_calls=tuple(calls))


def _parts(content: Any, index: int) -> tuple[Part, ...]:
    try:
        return user_parts(content, index)
    except PartError as exc:
        raise WireError(str(exc), param=exc.param) from None


def to_chat_messages(messages: Any) -> list[ChatMessage]:
    """Convert the ``messages`` the SDK sent into neutral messages, refusing what OpenAI refuses."""
    if not isinstance(messages, list) or not messages:
        raise WireError("'messages' must be a non-empty array.", param="messages")
    result: list[ChatMessage] = []
    pending: dict[str, str] = {}  # call id -> tool name, for calls not answered yet
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if pending and role != "tool":
            raise WireError(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                param="messages",
            )
        if role in ("system", "developer", "user"):
            kind = "user" if role == "user" else "system"
            content = message.get("content")
            parts = _parts(content, index) if role == "user" else ()
            result.append(ChatMessage(kind, content_text(content), parts=parts))
        elif role == "assistant":
            reply = _assistant(index, message)
            pending = {c.call_id: c.name for c in reply.tool_calls}
            result.append(reply)
        elif role == "tool":
            call_id = str(message.get("tool_call_id", ""))
            if call_id not in pending:
                raise WireError(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            name = pending.pop(call_id)
            text = content_text(message.get("content"))
            result.append(ChatMessage("tool", text, call_id=call_id, name=name))
        else:
            raise WireError(
                f"Invalid value: {role!r}. Supported values are: 'system', 'developer', "
                "'user', 'assistant', and 'tool'.",
                param=f"messages[{index}].role",
            )
    if pending:
        raise WireError(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            f"responding to each 'tool_call_id'. Missing: {', '.join(pending)}",
            param="messages",
        )
    return result


def check_tools(tools: Any) -> None:
    """Refuse tool declarations the API refuses (bad names, wrong shape)."""
    if tools is None:
        return
    if not isinstance(tools, list):
        raise WireError("'tools' must be an array.", param="tools")
    for n, entry in enumerate(tools):
        function = entry.get("function") if isinstance(entry, Mapping) else None
        if entry.get("type") != "function" or not isinstance(function, Mapping):
            raise WireError(f"Invalid 'tools[{n}]': expected a function tool.", param="tools")
        problems = schema_problems(function.get("parameters", {"type": "object"}), "json-schema")
        if problems:
            raise WireError(
                f"Invalid schema for function '{function.get('name')}': {problems[0]}.",
                param=f"tools[{n}].function.parameters",
                code="invalid_function_parameters",
            )
        if not _TOOL_NAME.match(str(function.get("name", ""))):
            raise WireError(
                f"Invalid 'tools[{n}].function.name': string does not match pattern. Expected "
                "a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"tools[{n}].function.name",
                code="invalid_value",
            )


def finish_reason(reply: ModelReply, *, content_filter: bool = False) -> str:
    """The ``finish_reason`` OpenAI would give for ``reply``."""
    if content_filter:
        return "content_filter"
    if reply.tool_calls:
        return "tool_calls"
    return _FINISH.get(reply.stop_reason, "stop")


def usage_body(reply: ModelReply) -> dict[str, Any]:
    """The ``usage`` object for ``reply``."""
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": len(reply.thinking.split())},
    }


#: The scripted model's neutral error codes as OpenAI writes them in a stream's error frame.
_STREAM_CODES = {"rate_limited": "rate_limit_exceeded", "overloaded": "server_overloaded"}


def error_body(reply: ModelReply) -> dict[str, Any]:
    """The mid-stream ``{"error": ...}`` frame for a reply that is a provider error."""
    code = _STREAM_CODES.get(reply.error_code or "", reply.error_code)
    return WireError(reply.error_message, type="server_error", code=code).body()


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def tool_call_deltas(
    calls: Sequence[ToolCallRequest], *, style: str, piece: int
) -> Iterator[list[dict[str, Any]]]:
    """The ``delta.tool_calls`` lists, one per chunk, for ``calls``.

    ``style`` is ``interleaved`` (fragments of all calls take turns by index), ``sequential``
    (one call after the other, as OpenAI does) or ``whole`` (every call complete in one chunk,
    as Ollama does). Only the first fragment of a call carries its id, type and name.
    """
    if not calls:
        return
    if style == "whole":
        yield [
            {
                "index": i,
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
            }
            for i, c in enumerate(calls)
        ]
        return
    streams: list[list[dict[str, Any]]] = []
    for i, call in enumerate(calls):
        head = {
            "index": i,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        fragments = _split(json.dumps(dict(call.arguments)), piece)
        streams.append([head, *({"index": i, "function": {"arguments": f}} for f in fragments)])
    if style == "sequential":
        for stream in streams:
            for fragment in stream:
                yield [fragment]
        return
    for step in range(max(len(s) for s in streams)):
        for stream in streams:
            if step < len(stream):
                yield [stream[step]]


class ChunkRenderer:
    """Renders one completion's stream chunks with the envelope every chunk shares."""

    def __init__(
        self, *, completion_id: str, model: str, created: int, include_usage: bool
    ) -> None:
        self.completion_id = completion_id
        self.model = model
        self.created = created
        self.include_usage = include_usage

    def chunk(self, delta: Mapping[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        """One ``chat.completion.chunk``; ``delta=None`` gives the usage-only final chunk."""
        body: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_emulator",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish}],
        }
        if self.include_usage:
            # OpenAI sends "usage": null on every chunk but the last when usage is asked for.
            body["usage"] = None
        return body

    def reply_chunks(
        self,
        reply: ModelReply,
        *,
        tool_call_style: str,
        argument_piece: int,
        reasoning_field: str | None,
        content_filter: bool,
    ) -> Iterator[dict[str, Any]]:
        """Every frame of the stream for ``reply``, in order (``[DONE]`` is the caller's)."""
        yield self.chunk({"role": "assistant", "content": "", "refusal": None})
        if reply.error_code is not None:
            yield error_body(reply)
            return
        if reasoning_field:
            for piece in reply.thinking_chunks():
                yield self.chunk({reasoning_field: piece})
        field = "refusal" if reply.stop_reason is StopReason.REFUSAL else "content"
        for piece in reply.chunks():
            yield self.chunk({field: piece})
        for deltas in tool_call_deltas(
            reply.tool_calls, style=tool_call_style, piece=argument_piece
        ):
            yield self.chunk({"tool_calls": deltas})
        yield self.chunk({}, finish_reason(reply, content_filter=content_filter))
        if self.include_usage:
            yield {**self.chunk(None), "usage": usage_body(reply)}

    def completion(self, reply: ModelReply, *, content_filter: bool) -> dict[str, Any]:
        """The non-streamed ``chat.completion`` for ``reply``."""
        refusal = reply.stop_reason is StopReason.REFUSAL
        calls = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
            }
            for c in reply.tool_calls
        ]
        message = {
            "role": "assistant",
            "content": None if refusal or (calls and not reply.text) else reply.text,
            "refusal": reply.text if refusal else None,
            "tool_calls": calls or None,
        }
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_emulator",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason(reply, content_filter=content_filter),
                }
            ],
            "usage": usage_body(reply),
        }
