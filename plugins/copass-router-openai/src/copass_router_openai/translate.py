"""OpenAI chat completion chunks -> neutral events, one model request at a time.

Streamed tool calls are assembled per ``index``: the id and name usually come only on a call's
first fragment, fragments of several calls can interleave, one chunk can carry several
fragments, and some runtimes send a whole call at once or reuse index 0 for every call. The
arguments are parsed as JSON only once the request has finished, never per fragment.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from copass_router import (
    Event,
    Message,
    ModelStep,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCallRequest,
    Usage,
)

#: Where OpenAI-compatible runtimes stream reasoning: vLLM and DeepSeek use
#: ``reasoning_content``, Ollama and OpenRouter ``reasoning``. OpenAI itself sends none.
REASONING_FIELDS = ("reasoning_content", "reasoning")

#: Argument text of a call whose JSON could not be decoded rides under this key, so the tool
#: refuses it and the model sees why (the dispatcher validates arguments, see the README).
INVALID_ARGUMENTS_KEY = "_invalid_json_arguments"

_STOP_REASONS = {
    "stop": StopReason.END_TURN,
    "tool_calls": StopReason.END_TURN,
    "function_call": StopReason.END_TURN,
    "length": StopReason.MAX_TOKENS,
    "content_filter": StopReason.REFUSAL,
}


def stop_reason(finish_reason: str | None, *, refused: bool = False) -> StopReason:
    """Map OpenAI's ``finish_reason`` onto the neutral enum (unknown reasons end the turn)."""
    if refused and finish_reason in (None, "stop"):
        return StopReason.REFUSAL
    return _STOP_REASONS.get(finish_reason or "stop", StopReason.END_TURN)


def usage_event(usage: Any, provider_data: Mapping[str, Any] | None = None) -> Usage:
    """A :class:`Usage` event from OpenAI's ``usage`` object.

    OpenAI counts cached prompt tokens inside ``prompt_tokens``; here ``input_tokens`` is the
    uncached part so that input + cache read + cache write is the whole prompt, as every other
    provider reports it.
    """
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    written = int(getattr(details, "cache_write_tokens", 0) or 0)
    return Usage(
        input_tokens=max(prompt - cached - written, 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        provider_data=provider_data,
    )


@attrs.define
class _PartialCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = attrs.field(factory=list)


class ToolCallAssembler:
    """Collects tool-call fragments and gives whole :class:`ToolCallRequest` objects."""

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._slot: dict[int, int] = {}  # stream index -> position in _calls

    def add(self, fragment: Any) -> None:
        """Take one ``delta.tool_calls[i]`` fragment (an SDK object or a dict)."""
        index = int(_get(fragment, "index", 0) or 0)
        call_id = _get(fragment, "id") or ""
        function = _get(fragment, "function")
        name = (_get(function, "name") or "") if function is not None else ""
        arguments = (_get(function, "arguments") or "") if function is not None else ""
        position = self._slot.get(index)
        current = self._calls[position] if position is not None else None
        if current is None or (call_id and current.call_id and call_id != current.call_id):
            # A new call; a different id on a known index means the runtime reused the index.
            current = _PartialCall()
            self._slot[index] = len(self._calls)
            self._calls.append(current)
        if call_id and not current.call_id:
            current.call_id = call_id
        if name and name != current.name:
            # Names come whole on the first fragment; a runtime repeating it must not double it.
            current.name = name if not current.name else current.name + name
        if arguments:
            current.arguments.append(arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> tuple[ToolCallRequest, ...]:
        """The assembled calls, in the order they started. Missing ids get a fresh one."""
        return tuple(
            ToolCallRequest(
                call.call_id or f"call_{uuid.uuid4().hex[:24]}",
                call.name,
                decode_arguments("".join(call.arguments)),
            )
            for call in self._calls
        )


def decode_arguments(text: str) -> dict[str, Any]:
    """Decode a call's complete argument text; empty means no arguments."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {INVALID_ARGUMENTS_KEY: text}
    return value if isinstance(value, dict) else {INVALID_ARGUMENTS_KEY: text}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


@functools.cache
def _declared(cls: type) -> frozenset[str]:
    """The fields an SDK model class declares (fixed when the class is made; asking pydantic
    for ``model_fields`` costs about a microsecond each time)."""
    return frozenset(getattr(cls, "model_fields", None) or ())


def _extra(delta: Any, name: str) -> Any:
    """A field the SDK's model may not declare (a server's extension, e.g. reasoning text)."""
    extra = getattr(delta, "model_extra", None)
    cls: type = type(delta)
    if extra is not None and name not in _declared(cls):
        # Undeclared: only the extras can hold it (asking the model for it raises inside
        # pydantic, a few microseconds on every chunk of a stream).
        return extra.get(name)
    value = getattr(delta, name, None)
    if value is None and extra:
        value = extra.get(name)
    return value


class ChunkTranslator:
    """Translates the chunks of one streamed chat completion into neutral events.

    Feed every chunk to :meth:`feed`. After the stream ends, :meth:`flush` completes the open
    text and reasoning blocks, :meth:`usage` reports the tokens and :meth:`outcome` says how the
    request ended. ``finished`` tells whether a ``finish_reason`` arrived (if not, it was cut).
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finish_reason: str | None = None
        self._usage: Any = None
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._refused = False
        self._calls = ToolCallAssembler()
        self._meta: dict[str, Any] = {}

    @property
    def finished(self) -> bool:
        """Whether the model said why it stopped."""
        return self.finish_reason is not None

    @property
    def provider_data(self) -> dict[str, Any] | None:
        """The completion's id, model and fingerprint, keyed by provider name."""
        return {self.provider: dict(self._meta)} if self._meta else None

    def feed(self, chunk: Any) -> list[Event]:
        """The events one chunk gives, in order."""
        for key in ("id", "model", "system_fingerprint"):
            value = getattr(chunk, key, None)
            if value and key not in self._meta:
                self._meta["completion_id" if key == "id" else key] = value
        events: list[Event] = []
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue  # only one choice is ever asked for
            events.extend(self._delta(getattr(choice, "delta", None)))
            if getattr(choice, "finish_reason", None) is not None:
                self.finish_reason = choice.finish_reason
                # The text is complete: its Message goes before the usage chunk that follows.
                events.extend(self.flush())
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            # Some servers repeat a running total on every chunk: only the last one counts.
            self._usage = usage
        return events

    def _delta(self, delta: Any) -> list[Event]:
        if delta is None:
            return []
        events: list[Event] = []
        for field in REASONING_FIELDS:
            piece = _extra(delta, field)
            if isinstance(piece, str) and piece:
                self._thinking.append(piece)
                events.append(ThinkingDelta(text=piece))
        pieces = ((getattr(delta, "content", None), False), (getattr(delta, "refusal", None), True))
        for piece, refusal in pieces:
            if isinstance(piece, str) and piece:
                events.extend(self._close_thinking())
                self._refused = self._refused or refusal
                self._text.append(piece)
                events.append(TextDelta(text=piece))
        for fragment in getattr(delta, "tool_calls", None) or []:
            events.extend(self._close_thinking())
            self._calls.add(fragment)
        return events

    def _close_thinking(self) -> list[Event]:
        if not self._thinking:
            return []
        text = "".join(self._thinking)
        self._thinking.clear()
        return [ThinkingMessage(text=text)]

    def flush(self) -> list[Event]:
        """Complete the open reasoning and text blocks (also after a cut, to keep what was seen)."""
        events = self._close_thinking()
        if self._text:
            events.append(Message(role="assistant", text="".join(self._text)))
            self._text.clear()
        return events

    def usage(self) -> list[Event]:
        """The request's usage report, once, after the stream ended (none if none came)."""
        if self._usage is None:
            return []
        report, self._usage = usage_event(self._usage, self.provider_data), None
        return [report]

    def outcome(self) -> ModelStep:
        """How the request ended. Calls cut short by ``length`` are dropped, not run."""
        reason = stop_reason(self.finish_reason, refused=self._refused)
        if reason is StopReason.MAX_TOKENS or not self._calls:
            return ModelStep(stop_reason=reason)
        return ModelStep(tool_calls=self._calls.calls(), stop_reason=reason)
