"""Reasoning in the history a turn receives: the provider's own, or another's made portable.

A turn's reasoning is a :class:`ReasoningItem` of the transcript, with the provider and model
that produced it. The history handed to a backend keeps a reasoning item only when the backend
is that provider and the model is of the same family (so a provider that takes reasoning back,
signed or encrypted, gets it verbatim). Reasoning of another provider is never passed as it
is: the router's ``reasoning_portability`` drops it (``"drop"``, the default) or turns it into
an assistant note clearly labelled as a summary of earlier reasoning (``"summarise"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import attrs

from copass_router._settings import env_choice
from copass_router._types import AssistantItem, ReasoningItem, TranscriptItem, TranscriptTurn

#: What ``Router(reasoning_portability=...)`` takes.
REASONING_POLICIES = ("drop", "summarise")
#: The most characters of another provider's reasoning a summary keeps.
SUMMARY_CHARS = 1_000

# A dated or pinned snapshot of a model is the same family as the model: claude-opus-4-7 and
# claude-opus-4-7-20260301, gpt-4.1 and gpt-4.1-2025-04-14, gemini-2.5-flash and ...-latest.
_SNAPSHOT = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|-latest|-preview(-\d{2}-\d{4})?|@\d+)$")


def check_policy(policy: str | None, environ: Mapping[str, str]) -> str:
    """``policy``, else ``COPASS_ROUTER_REASONING_PORTABILITY``, else ``"drop"``."""
    return env_choice(
        policy,
        environ,
        "COPASS_ROUTER_REASONING_PORTABILITY",
        "reasoning_portability",
        REASONING_POLICIES,
    )


def model_family(model: str) -> str:
    """The family of ``model``: its name without a snapshot suffix."""
    return _SNAPSHOT.sub("", model)


def is_own(item: ReasoningItem, provider: str, model: str) -> bool:
    """Whether ``item`` is reasoning ``provider`` produced on a model of ``model``'s family."""
    return item.provider == provider and model_family(item.model) == model_family(model)


def summary(item: ReasoningItem) -> str:
    """Another provider's reasoning as a labelled note (never passed off as the answer)."""
    text = item.text.strip()
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rstrip() + " [...]"
    source = "/".join(p for p in (item.provider, item.model) if p) or "an earlier model"
    return f"(Summary of the reasoning by {source}; it is not part of the answer: {text})"


def portable_history(
    turns: Sequence[TranscriptTurn], provider: str, model: str, policy: str = "drop"
) -> list[TranscriptTurn]:
    """``turns`` as ``provider``/``model`` may see them: its own reasoning kept, another's
    dropped or summarised as ``policy`` says."""
    out: list[TranscriptTurn] = []
    for turn in turns:
        if not any(isinstance(i, ReasoningItem) for i in turn.items):
            out.append(turn)
            continue
        items: list[TranscriptItem] = []
        for item in turn.items:
            if not isinstance(item, ReasoningItem) or is_own(item, provider, model):
                items.append(item)
            elif policy == "summarise" and item.text.strip():
                items.append(AssistantItem(summary(item)))
        changed = len(items) != len(turn.items) or any(
            a is not b for a, b in zip(items, turn.items, strict=True)
        )
        out.append(attrs.evolve(turn, items=tuple(items)) if changed else turn)
    return out
