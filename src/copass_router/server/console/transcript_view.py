"""A session's transcript as a conversation: what the console's session page draws.

Each turn keeps its order and says which provider and model ran it; a turn on another provider
than the one before is marked as a switch, a turn that failed over mid-way as a failover, and
the errors a turn met are shown with it. Nothing here is HTML: the template escapes every value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from copass_router._types import AssistantItem, ToolCallItem, ToolResultItem, TranscriptTurn
from copass_router.content._parts import TextPart


@attrs.frozen
class Bubble:
    """One thing said or done: ``kind`` is user, assistant, tool_call or tool_result."""

    kind: str
    text: str
    name: str = ""
    call_id: str = ""
    is_error: bool = False


@attrs.frozen
class TurnView:
    """One turn with what the page marks about it."""

    index: int
    run_id: str
    provider: str
    model: str
    status: str
    stop_reason: str
    tokens: str
    switched_from: str  # the previous turn's provider when it differs, else ""
    failovers: tuple[str, ...]
    errors: tuple[str, ...]
    bubbles: tuple[Bubble, ...]


def _arguments(arguments: Mapping[str, Any]) -> str:
    try:
        return json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(arguments)


def _failovers(data: Mapping[str, Any]) -> tuple[str, ...]:
    notes = []
    for item in data.get("failovers") or ():
        if isinstance(item, Mapping):
            notes.append(
                f"failed over from {item.get('from_provider')}/{item.get('from_model')} to "
                f"{item.get('to_provider')}/{item.get('to_model')} ({item.get('code')})"
            )
    return tuple(notes)


def _errors(data: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for item in data.get("errors") or ():
        if isinstance(item, Mapping):
            found.append(f"{item.get('code')}: {item.get('message')}")
    return tuple(found)


def _bubbles(turn: TranscriptTurn) -> Iterable[Bubble]:
    shown = [
        f"[{p.kind}: {p.media_type}, {p.url or f'{p.size} bytes'}]"
        for p in turn.parts
        if not isinstance(p, TextPart)
    ]
    yield Bubble("user", "\n".join([turn.user, *shown]) if shown else turn.user)
    for item in turn.items:
        if isinstance(item, AssistantItem):
            yield Bubble("assistant", item.text)
        elif isinstance(item, ToolCallItem):
            yield Bubble("tool_call", _arguments(item.arguments), item.name, item.call_id)
        elif isinstance(item, ToolResultItem):
            yield Bubble("tool_result", item.output, item.name, item.call_id, item.is_error)


def turn_views(turns: Sequence[TranscriptTurn]) -> list[TurnView]:
    """The transcript, turn by turn, as the page shows it."""
    views: list[TurnView] = []
    previous = ""
    for turn in turns:
        usage = turn.usage
        views.append(
            TurnView(
                index=turn.index,
                run_id=turn.run_id,
                provider=turn.provider,
                model=turn.model,
                status=str(turn.status),
                stop_reason=str(turn.stop_reason or ""),
                tokens=f"{usage.input_tokens} in / {usage.output_tokens} out",
                switched_from=previous if previous and previous != turn.provider else "",
                failovers=_failovers(turn.provider_data),
                errors=_errors(turn.provider_data),
                bubbles=tuple(_bubbles(turn)),
            )
        )
        previous = turn.provider
    return views
