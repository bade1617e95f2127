"""Sessions and transcripts as the hosted API shows them (end user ids as the caller named them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from copass_router._types import SessionInfo, TranscriptTurn
from copass_router._wire import turn_to_dict
from copass_router.serving._auth import Principal


def session_dict(info: SessionInfo, principal: Principal) -> dict[str, Any]:
    """A session's JSON form."""
    return {
        "session_id": info.session_id,
        "end_user_id": principal.unscope(info.end_user_id),
        "turn_count": info.turn_count,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
    }


def turn_dicts(turns: Iterable[TranscriptTurn]) -> list[dict[str, Any]]:
    """Transcript turns in their JSON form (the core's one converter)."""
    return [turn_to_dict(turn) for turn in turns]
