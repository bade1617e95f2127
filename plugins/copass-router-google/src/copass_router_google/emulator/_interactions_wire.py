"""What the Interactions emulator reads and writes: input steps in, SSE events out.

Input steps become the scripted model's neutral messages; a scripted reply becomes the step
events Gemini streams (``step.start`` / ``step.delta`` / ``step.stop``), framed as the SDK's
event-stream reader expects (``event: <type>`` and ``data: <json>``, ending ``data: [DONE]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from copass_router import ChatMessage, GenerationSettings, StopReason, TextPart, ToolCallRequest
from copass_router.testing import ModelReply, schema_problems

from ._parts import PartError, interaction_parts

#: The Interactions API's error codes for the scripted model's neutral ones.
ERROR_CODES = {
    "rate_limited": "RESOURCE_EXHAUSTED",
    "overloaded": "UNAVAILABLE",
    "server_error": "INTERNAL",
    "invalid_request": "INVALID_ARGUMENT",
    "timeout": "DEADLINE_EXCEEDED",
}
#: The error status names of HTTP statuses, as Google's APIs write them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
#: Built-in tools the emulator runs itself when a request enables them.
BUILTIN_TOOLS = ("code_execution", "google_search")


class WireError(Exception):
    """A request the API refuses: rendered as ``{"error": {"code", "message"}}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        """The error body."""
        code = STATUS_NAMES.get(self.status, "UNKNOWN")
        return {"error": {"code": code, "message": self.message}}


def input_messages(value: Any) -> list[ChatMessage]:
    """The neutral messages of a request's ``input`` (a string, contents or steps)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [ChatMessage("user", value)]
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise WireError("input must be a string, a content list or a step list")
    messages: list[ChatMessage] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise WireError("each input item must be an object")
        messages.extend(_step_messages(item, messages))
    return messages


def _text_of(content: Any) -> str:
    parts = content if isinstance(content, list) else [content]
    return "".join(
        str(p.get("text", "")) for p in parts if isinstance(p, Mapping) and p.get("type") == "text"
    )


def _step_messages(step: Mapping[str, Any], so_far: list[ChatMessage]) -> list[ChatMessage]:
    kind = step.get("type")
    if kind == "text":  # a bare content item
        return [ChatMessage("user", str(step.get("text", "")))]
    if kind == "user_input":
        content = step.get("content") or []
        try:
            parts = interaction_parts(content, f"input[{len(so_far)}]")
        except PartError as exc:
            raise WireError(str(exc)) from None
        shown = () if all(isinstance(p, TextPart) for p in parts) else parts
        return [ChatMessage("user", _text_of(content), parts=shown)]
    if kind == "model_output":
        return [ChatMessage("assistant", _text_of(step.get("content") or []))]
    if kind == "thought":
        return []  # reasoning is the model's own; the scripted model does not read it
    if kind == "function_call":
        if not step.get("id") or not step.get("name"):
            raise WireError("a function_call step needs an id and a name")
        call = ToolCallRequest(
            str(step["id"]), str(step["name"]), dict(step.get("arguments") or {})
        )
        if so_far and so_far[-1].role == "assistant":
            last = so_far.pop()
            return [ChatMessage("assistant", last.text, tool_calls=(*last.tool_calls, call))]
        return [ChatMessage("assistant", "", tool_calls=(call,))]
    if kind == "function_result":
        if not step.get("call_id"):
            raise WireError("a function_result step needs the call_id it answers")
        result = step.get("result")
        text = result if isinstance(result, str) else json.dumps(result, sort_keys=True)
        return [
            ChatMessage(
                "tool",
                text,
                call_id=str(step["call_id"]),
                name=str(step.get("name") or ""),
                is_error=bool(step.get("is_error")),
            )
        ]
    raise WireError(f"unsupported input step type {kind!r}")


def check_tools(tools: Any) -> tuple[set[str], set[str]]:
    """The function names and the enabled built-in tools of a request's ``tools``."""
    functions: set[str] = set()
    builtins: set[str] = set()
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            raise WireError("each tool must be an object")
        kind = tool.get("type")
        if kind == "function":
            if not tool.get("name"):
                raise WireError("a function tool needs a name")
            # What Gemini's function declarations refuse, the emulator refuses.
            problems = schema_problems(tool.get("parameters") or {"type": "object"}, "gemini")
            if problems:
                raise WireError(f"tool {tool['name']}: invalid schema: {problems[0]}")
            functions.add(str(tool["name"]))
        elif kind in BUILTIN_TOOLS:
            builtins.add(str(kind))
        else:
            raise WireError(f"unsupported tool type {kind!r}")
    return functions, builtins


def frame(event: Mapping[str, Any]) -> bytes:
    """One SSE frame of ``event``."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['event_type']}\ndata: {data}\n\n".encode()


def usage(reply: ModelReply) -> dict[str, int]:
    """The usage block of a reply."""
    return {
        "total_input_tokens": reply.input_tokens,
        "total_output_tokens": reply.output_tokens,
        "total_thought_tokens": len(reply.thinking.split()),
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def reply_steps(
    reply: ModelReply, first_index: int, argument_piece: int
) -> Iterator[dict[str, Any]]:
    """The step events of one scripted reply, numbered from ``first_index``."""
    index = first_index
    if reply.thinking:
        yield {"event_type": "step.start", "index": index, "step": {"type": "thought"}}
        for piece in reply.thinking_chunks():
            content = {"type": "text", "text": piece}
            yield _delta(index, {"type": "thought_summary", "content": content})
        yield _delta(index, {"type": "thought_signature", "signature": f"sig-{index}"})
        yield {"event_type": "step.stop", "index": index}
        index += 1
    if reply.text:
        yield {"event_type": "step.start", "index": index, "step": {"type": "model_output"}}
        for piece in reply.chunks():
            yield _delta(index, {"type": "text", "text": piece})
        yield {"event_type": "step.stop", "index": index}
        index += 1
    for call in reply.tool_calls:
        step = {"type": "function_call", "id": call.call_id, "name": call.name, "arguments": {}}
        yield {"event_type": "step.start", "index": index, "step": step}
        raw = json.dumps(dict(call.arguments))
        for at in range(0, len(raw), max(argument_piece, 1)):
            piece = raw[at : at + argument_piece]
            yield _delta(index, {"type": "arguments_delta", "arguments": piece})
        yield {"event_type": "step.stop", "index": index}
        index += 1


def _delta(index: int, delta: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_type": "step.delta", "index": index, "delta": dict(delta)}


def final_status(reply: ModelReply) -> str:
    """The interaction's status once ``reply`` is streamed."""
    if reply.error_code is not None:
        return "failed"
    if reply.tool_calls:
        return "requires_action"
    if reply.stop_reason is StopReason.MAX_TOKENS:
        return "incomplete"
    return "completed"


def error_event(reply: ModelReply) -> dict[str, Any]:
    """The in-band ``error`` event of a scripted error."""
    code = ERROR_CODES.get(reply.error_code or "", reply.error_code or "INTERNAL")
    return {"event_type": "error", "error": {"code": code, "message": reply.error_message}}


#: Gemini's own bounds on a generation config.
MAX_TEMPERATURE = 2.0
MAX_STOP_SEQUENCES = 5


def generation_settings(config: Any) -> GenerationSettings:
    """The sampling fields of a ``generation_config``, checked as the API checks them."""
    if config is None:
        return GenerationSettings()
    if not isinstance(config, Mapping):
        raise WireError("generation_config must be an object")
    temperature, limit = config.get("temperature"), config.get("max_output_tokens")
    stop = config.get("stop_sequences") or []
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= MAX_TEMPERATURE
    ):
        raise WireError(f"temperature must be in [0.0, {MAX_TEMPERATURE}], got {temperature}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise WireError(f"max_output_tokens must be a positive integer, got {limit}")
    if not isinstance(stop, list) or len(stop) > MAX_STOP_SEQUENCES:
        raise WireError(f"stop_sequences must be a list of at most {MAX_STOP_SEQUENCES} strings")
    return GenerationSettings(temperature, limit, tuple(str(s) for s in stop))
