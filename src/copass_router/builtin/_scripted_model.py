"""A deterministic "model" for the echo backend and every provider emulator.

Given a conversation in neutral form it decides the next reply. The last user message steers it
with a small command syntax (documented in docs/scripted-model.md):

- plain text: replies ``echo: <text>``, streamed word by word
- ``/tool NAME {json}``: calls tool NAME with the JSON arguments, then reports the result
- ``/tools NAME {json} ; NAME2 {json}``: several calls at once (parallel tool calls)
- ``/loop NAME {json}``: calls the tool again every round (to hit a tool-round cap)
- ``/think TEXT``: streams ``reasoning: <TEXT reversed>``, then replies ``I thought about: TEXT``
- ``/error CODE MESSAGE``: the provider reports an error
- ``/refuse``: a refusal; ``/max_tokens``: stops for length
- ``/long N``: a reply of N words (``w1 w2 ...``), N at most ``MAX_LONG_WORDS``
- ``/slow SECONDS TEXT``: like plain text, with a pause of SECONDS (at most 60) before each chunk
- ``/recall``: replies with every earlier message it was given, one per line, so a test can
  check what a provider actually received
- ``/whoami``: replies ``model=<model> system=<system prompt>`` with the model name and the
  system prompt this request reached the model with (``none`` for either when absent)
- ``/parts``: replies ``parts: <kind> <media type> <first 12 of sha256 or the URL>; ...``
  with every image and file the conversation gave it (``parts: none`` without any), so a test
  can check the bytes arrived
- ``/settings``: replies ``temperature=<t> max_output_tokens=<n> stop=<json list>`` with the
  generation settings this request reached the model with (``none`` when absent)

Generation settings are honoured as a model would: a reply is cut before the first stop
sequence in it, and one longer than ``max_output_tokens`` words is cut there and stops with
``max_tokens`` (``/settings`` itself is never cut, so it can report them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import attrs

from copass_router._generation import GenerationSettings
from copass_router._types import ChatMessage, StopReason, ToolCallRequest
from copass_router.content._parts import FilePart, ImagePart

_CHUNK = re.compile(r"\S+\s*|\s+")

# Bounds on what one scripted reply may cost: a 60-byte ``/long 5000000`` must not make a
# server build and stream five million events.
MAX_LONG_WORDS = 20_000
MAX_DELTAS = MAX_LONG_WORDS
MAX_SLOW_SECONDS = 60.0


@attrs.frozen
class ModelReply:
    """The scripted model's next step."""

    text: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCallRequest, ...] = ()
    error_code: str | None = None
    error_message: str = ""
    stop_reason: StopReason = StopReason.END_TURN
    input_tokens: int = 0
    output_tokens: int = 0
    chunk_delay: float = 0.0

    def chunks(self) -> list[str]:
        """The reply text split into word-sized stream deltas (joined, they give ``text``)."""
        return _deltas(self.text)

    def thinking_chunks(self) -> list[str]:
        """The reasoning split into word-sized stream deltas."""
        return _deltas(self.thinking)


def _deltas(text: str) -> list[str]:
    # Word-sized deltas, but never more than MAX_DELTAS of them: echoing a 1 MB message word by
    # word would be half a million events (and strings held while the turn is recorded). The
    # grouping is one regular expression, so even a huge reply is split without a Python loop.
    size = -(-(text.count(" ") + text.count("\n") + 1) // MAX_DELTAS)
    if size <= 1:
        pieces: list[str] = _CHUNK.findall(text)
        if len(pieces) <= MAX_DELTAS:
            return pieces
        size = -(-len(pieces) // MAX_DELTAS)  # other whitespace (tabs...) fooled the estimate
    return re.findall(rf"(?:\S+\s*|\s+){{1,{size}}}", text)


def _parse_calls(spec: str, first_index: int) -> tuple[ToolCallRequest, ...]:
    calls = []
    for n, part in enumerate(p.strip() for p in spec.split(" ; ")):
        name, _, raw = part.partition(" ")
        arguments: Any = json.loads(raw) if raw.strip() else {}
        calls.append(ToolCallRequest(f"call_{first_index + n}", name, arguments))
    return tuple(calls)


def _recall(history: Sequence[ChatMessage]) -> str:
    lines = []
    for m in history:
        if m.role == "user":
            lines.append(f"user: {m.text}")
        elif m.role == "assistant":
            if m.text:
                lines.append(f"assistant: {m.text}")
            for c in m.tool_calls:
                lines.append(f"tool_call {c.name} {json.dumps(dict(c.arguments), sort_keys=True)}")
        elif m.role == "tool":
            lines.append(f"tool_result {m.name}: {m.text}")
    return "recall:\n" + "\n".join(lines)


def _settings(settings: GenerationSettings) -> str:
    stop = json.dumps(list(settings.stop)) if settings.stop else "none"
    return (
        f"temperature={_none(settings.temperature)} "
        f"max_output_tokens={_none(settings.max_output_tokens)} stop={stop}"
    )


def _none(value: object) -> str:
    return "none" if value is None else str(value)


def _honour(settings: GenerationSettings, reply: ModelReply) -> ModelReply:
    """``reply`` as a model given ``settings`` would end it: at a stop sequence or the limit."""
    text = reply.text
    if not text or reply.error_code:
        return reply
    cuts = [text.find(s) for s in settings.stop if s in text]
    if cuts:
        text = text[: min(cuts)]
    limit = settings.max_output_tokens
    if limit is not None and len(text.split()) > limit:
        kept = " ".join(text.split()[:limit])
        return attrs.evolve(reply, text=kept, tool_calls=(), stop_reason=StopReason.MAX_TOKENS)
    return attrs.evolve(reply, text=text)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _refused(message: str) -> ModelReply:
    # A bad command is the caller's mistake: a clean error reply, never an exception.
    return ModelReply(
        error_code="invalid_request", error_message=message, stop_reason=StopReason.ERROR
    )


def _words(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.text.split()) + len(m.tool_calls) for m in messages)


def scripted_reply(
    messages: Sequence[ChatMessage],
    model: str | None = None,
    settings: GenerationSettings | None = None,
) -> ModelReply:
    """Decide the next reply to ``messages`` (system, user, assistant and tool messages).

    ``model`` is the model name the request asked for (what ``/whoami`` reports);
    ``settings`` the generation settings it carried (what ``/settings`` reports and the reply
    honours).
    """
    settings = settings or GenerationSettings()
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    prompt = messages[last_user].text.strip() if last_user >= 0 else ""
    since = messages[last_user + 1 :]
    calls_so_far = sum(len(m.tool_calls) for m in messages)
    results = [m for m in since if m.role == "tool"]
    command, _, rest = prompt.partition(" ") if prompt.startswith("/") else ("", "", prompt)
    if command == "/whoami":
        system = "\n".join(m.text for m in messages if m.role == "system") or "none"
        reply = ModelReply(text=f"model={model or 'none'} system={system}")
    elif command == "/settings":
        reply = ModelReply(text=_settings(settings))
    elif command == "/parts":
        reply = ModelReply(text=_parts(messages))
    else:
        reply = _honour(
            settings, _reply(command, rest.strip(), messages[:last_user], results, calls_so_far)
        )
    return attrs.evolve(
        reply,
        input_tokens=_words(messages),
        output_tokens=len(reply.text.split()) + len(reply.thinking.split()) + len(reply.tool_calls),
    )


def _parts(messages: Sequence[ChatMessage]) -> str:
    seen = [
        f"{p.kind} {p.media_type} {p.url if p.url is not None else p.sha256[:12]}"
        for m in messages
        for p in m.parts
        if isinstance(p, ImagePart | FilePart)
    ]
    return "parts: " + ("; ".join(seen) or "none")


def _reply(
    command: str,
    rest: str,
    earlier: Sequence[ChatMessage],
    results: list[ChatMessage],
    calls_so_far: int,
) -> ModelReply:
    if command == "/loop":
        try:
            calls = _parse_calls(rest, calls_so_far)
        except (ValueError, RecursionError):
            return _refused("/loop takes a tool name and its arguments as a JSON object")
        return ModelReply(tool_calls=calls, stop_reason=StopReason.END_TURN)
    if command in ("/tool", "/tools"):
        if results:
            text = "; ".join(f"{r.name} -> {r.text}" for r in results)
            return ModelReply(text=f"tool results: {text}")
        try:
            return ModelReply(tool_calls=_parse_calls(rest, calls_so_far))
        except (ValueError, RecursionError):
            return _refused("/tool takes a tool name and its arguments as a JSON object")
    if command == "/think":
        # The reasoning holds the prompt reversed: text that is in no message, so a test can
        # check that reasoning never travels to another provider.
        return ModelReply(thinking=f"reasoning: {rest[::-1]}", text=f"I thought about: {rest}")
    if command == "/error":
        code, _, message = rest.partition(" ")
        return ModelReply(
            error_code=code or "server_error",
            error_message=message or "scripted error",
            stop_reason=StopReason.ERROR,
        )
    if command == "/refuse":
        return ModelReply(text="I can't help with that.", stop_reason=StopReason.REFUSAL)
    if command == "/max_tokens":
        return ModelReply(text="This reply was cut", stop_reason=StopReason.MAX_TOKENS)
    if command == "/long":
        words = rest or "10"
        digits = words.isascii() and words.isdigit() and len(words.lstrip("0")) <= 9
        if not (digits and int(words) <= MAX_LONG_WORDS):
            return _refused(f"/long takes a whole number of words, at most {MAX_LONG_WORDS}")
        return ModelReply(text=" ".join(f"w{i}" for i in range(1, int(words) + 1)))
    if command == "/slow":
        seconds, _, text = rest.partition(" ")
        delay = _number(seconds or "0.1")
        if delay is None or not 0 <= delay <= MAX_SLOW_SECONDS:
            return _refused(f"/slow takes a pause of 0-{MAX_SLOW_SECONDS:g} seconds")
        return ModelReply(text=f"echo: {text}", chunk_delay=delay)
    if command == "/recall":
        return ModelReply(text=_recall(earlier))
    whole = f"{command} {rest}".strip() if command else rest
    return ModelReply(text=f"echo: {whole}")
