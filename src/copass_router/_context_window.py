"""Context windows: whether a turn fits its model, and what happens when it does not.

Each backend declares its models' context windows (``AgentBackend.context_windows``,
``default_context_window``). Before the first model call the core estimates what the turn sends
(system prompt, the history the provider has not seen, the message and the tool catalogue, at
:data:`CHARS_PER_TOKEN` characters a token). A turn that does not fit has its history
compacted (``Router(context_overflow="compact")``, the default: the
``copass_router_compact_history`` hook, else the oldest turns trimmed; a ``ContextCompacted``
event says so) or ends with ``context_length_exceeded`` before any call (``"error"``, or when
even the compacted history does not fit).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from copass_router._errors import ErrorCode
from copass_router._events import ContextCompacted, Error, Event
from copass_router._settings import env_choice
from copass_router._types import TranscriptTurn

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import AgentBackend, Turn

#: The estimate's rate (the same as a cut call's estimated usage).
CHARS_PER_TOKEN = 4
#: What ``Router(context_overflow=...)`` takes.
OVERFLOW_POLICIES = ("compact", "error")

#: ``(turns, limit_tokens, turn) -> turns that fit, or None``: the compaction hook's chain.
Compactor = Callable[[list[TranscriptTurn], int, "Turn"], list[TranscriptTurn] | None]


def check_overflow(policy: str | None, environ: Mapping[str, str]) -> str:
    """``policy``, else ``COPASS_ROUTER_CONTEXT_OVERFLOW``, else ``"compact"``."""
    return env_choice(
        policy, environ, "COPASS_ROUTER_CONTEXT_OVERFLOW", "context_overflow", OVERFLOW_POLICIES
    )


def context_limit(backend: AgentBackend, model: str) -> int | None:
    """The context window of ``model`` on ``backend``, in tokens (None: unknown): the model's
    own entry in ``context_windows``, else its family's, else ``default_context_window``."""
    from copass_router._reasoning import model_family

    windows = backend.context_windows
    found = windows.get(model) or windows.get(model_family(model))
    return found or backend.default_context_window


def turn_tokens(turn: TranscriptTurn) -> int:
    """The estimated tokens of one earlier turn as a provider receives it."""
    chars = len(turn.user)
    for item in turn.items:
        for field in attrs.fields(type(item)):
            value = getattr(item, field.name)
            if isinstance(value, str):
                chars += len(value)
            elif field.name == "arguments":
                chars += len(json.dumps(value, default=str))
    return -(-chars // CHARS_PER_TOKEN)


def fixed_tokens(turn: Turn) -> int:
    """The estimated tokens of what every request of ``turn`` carries besides its history."""
    tools = json.dumps([attrs.asdict(t) for t in turn.tools], default=str) if turn.tools else ""
    chars = len(turn.system or "") + len(turn.message) + len(tools)
    return -(-chars // CHARS_PER_TOKEN)


def trim_oldest(turns: Sequence[TranscriptTurn], budget: int) -> list[TranscriptTurn]:
    """The newest turns whose estimate fits ``budget`` tokens (the default compaction)."""
    kept: list[TranscriptTurn] = []
    for turn in reversed(turns):
        budget -= turn_tokens(turn)
        if budget < 0:
            break
        kept.append(turn)
    return kept[::-1]


@attrs.frozen
class Fitted:
    """What :func:`fit` decided: the history to send, the event saying it was compacted, or
    the error that ends the turn before any call."""

    history: list[TranscriptTurn]
    notice: ContextCompacted | None = None
    refusal: Error | None = None


def fit(
    turn: Turn,
    history: Sequence[TranscriptTurn],
    limit: int | None,
    policy: str,
    compact: Compactor | None = None,
) -> Fitted:
    """``history`` made to fit ``limit`` tokens with ``turn``'s other content, as ``policy``
    says (see the module docstring)."""
    turns = list(history)
    if limit is None:
        return Fitted(turns)
    fixed = fixed_tokens(turn)
    before = fixed + sum(turn_tokens(t) for t in turns)
    if before <= limit:
        return Fitted(turns)
    if policy == "compact" and fixed <= limit:
        by = "hook"
        try:
            kept = compact(turns, limit - fixed, turn) if compact is not None else None
        except Exception as exc:
            return Fitted(turns, refusal=_hook_failed(turn, exc))
        if kept is None:
            by, kept = "trim_oldest", trim_oldest(turns, limit - fixed)
        after = fixed + sum(turn_tokens(t) for t in kept)
        if after <= limit:
            notice = ContextCompacted(
                turns_before=len(turns),
                turns_after=len(kept),
                tokens_before=before,
                tokens_after=after,
                limit=limit,
                by=by,
            )
            return Fitted(kept, notice)
    return Fitted(turns, refusal=_too_big(turn, before, fixed, limit, len(turns), policy))


def _too_big(turn: Turn, needed: int, fixed: int, limit: int, turns: int, policy: str) -> Error:
    if fixed > limit:
        what = f"its system prompt, message and tools alone need about {fixed} tokens"
        advice = "shorten the message or run on a model with a larger window"
    else:
        what = f"it needs about {needed} tokens with the {turns} earlier turn(s) it sends"
        advice = (
            "start a new session, run on a model with a larger window, or let the router "
            'compact the history (Router(context_overflow="compact"))'
            if policy == "error"
            else "start a new session or run on a model with a larger window"
        )
    return Error(
        code=ErrorCode.CONTEXT_LENGTH_EXCEEDED.value,
        message=f"the turn does not fit model {turn.model!r} on provider {turn.provider!r}: "
        f"{what}, and the model takes {limit}; {advice}",
        provider=turn.provider,
        detail={"estimated_tokens": needed, "limit": limit},
    )


def _hook_failed(turn: Turn, exc: Exception) -> Error:
    from copass_router._logs import scrub

    return Error(
        code=ErrorCode.INTERNAL_ERROR.value,
        message=f"a copass_router_compact_history hook failed: {scrub(repr(exc))[:300]}",
        provider=turn.provider,
    )


async def refused_turn(turn: Turn) -> AsyncGenerator[Event]:
    """The events of a turn refused before any call: its error, and the turn ends with it."""
    from copass_router._types import StopReason

    turn.stop_reason = StopReason.ERROR
    if turn.refusal is not None:
        yield turn.refusal
