"""Finding sessions for the console: by tenant, end user, provider and date.

The store lists sessions newest first, by end user or all of them; the console narrows that
list. Tenant and end user together go to the store as one lookup; otherwise the newest
``SCAN_SESSIONS`` sessions are filtered here. Provider, first message and the turns' providers
come from each candidate's transcript, read a few at a time, until a page is full.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import attrs

from copass_router._types import SessionInfo, TranscriptTurn
from copass_router.run._router import Router

SCAN_SESSIONS = 500
PAGE_SESSIONS = 50
_READ_AT_ONCE = 8


@attrs.frozen
class SessionQuery:
    """What the operator searches for; empty fields match everything."""

    tenant: str = ""
    end_user: str = ""
    provider: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


@attrs.frozen
class SessionRow:
    """One session as the list shows it."""

    session_id: str
    tenant: str
    end_user: str
    stored_end_user: str
    providers: tuple[str, ...]
    models: tuple[str, ...]
    turn_count: int
    created_at: float
    updated_at: float
    first_message: str
    last_status: str


@attrs.frozen
class SearchResult:
    """A page of matches; ``scanned`` is how many sessions were looked at, and ``capped``
    whether the store had more than the console looks at."""

    rows: tuple[SessionRow, ...]
    scanned: int
    capped: bool


def split_end_user(stored: str, tenants: bool) -> tuple[str, str]:
    """``(tenant, end user)`` of a stored end user id (behind API keys ``<key id>:<user>``)."""
    if not tenants:
        return "", stored
    tenant, sep, user = stored.partition(":")
    return (tenant, user) if sep else ("", stored)


def _day_bounds(query: SessionQuery) -> tuple[float, float]:
    low = (
        dt.datetime.combine(query.since, dt.time(), tzinfo=dt.UTC).timestamp()
        if query.since
        else float("-inf")
    )
    high = (
        dt.datetime.combine(
            query.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
        ).timestamp()
        if query.until
        else float("inf")
    )
    return low, high


def _matches(info: SessionInfo, query: SessionQuery, tenants: bool) -> bool:
    tenant, user = split_end_user(info.end_user_id, tenants)
    if query.tenant and tenant != query.tenant:
        return False
    if query.end_user and user != query.end_user:
        return False
    low, high = _day_bounds(query)
    # Active within the dates: created before the range ends, used after it starts.
    return info.created_at < high and info.updated_at >= low


def _row(info: SessionInfo, turns: Sequence[TranscriptTurn], tenants: bool) -> SessionRow:
    tenant, user = split_end_user(info.end_user_id, tenants)
    providers = tuple(dict.fromkeys(t.provider for t in turns))
    models = tuple(dict.fromkeys(t.model for t in turns))
    first = turns[0].user if turns else ""
    return SessionRow(
        session_id=info.session_id,
        tenant=tenant,
        end_user=user,
        stored_end_user=info.end_user_id,
        providers=providers,
        models=models,
        turn_count=info.turn_count,
        created_at=info.created_at,
        updated_at=info.updated_at,
        first_message=first[:120] + ("…" if len(first) > 120 else ""),
        last_status=str(turns[-1].status) if turns else "",
    )


async def search_sessions(router: Router, query: SessionQuery, tenants: bool) -> SearchResult:
    """The newest sessions matching ``query`` (at most ``PAGE_SESSIONS``)."""
    if query.end_user and (query.tenant or not tenants):
        stored = f"{query.tenant}:{query.end_user}" if tenants else query.end_user
        try:
            listed = await router.list_sessions(stored, SCAN_SESSIONS)
        except Exception:  # not a valid id: nothing matches it
            listed = []
    else:
        listed = await router.list_sessions(None, SCAN_SESSIONS)
    candidates = [info for info in listed if _matches(info, query, tenants)]
    rows: list[SessionRow] = []
    for start in range(0, len(candidates), _READ_AT_ONCE):
        batch = candidates[start : start + _READ_AT_ONCE]
        transcripts = await asyncio.gather(
            *(router.store.load_turns(info.session_id) for info in batch)
        )
        for info, turns in zip(batch, transcripts, strict=True):
            if query.provider and query.provider not in {t.provider for t in turns}:
                continue
            rows.append(_row(info, turns, tenants))
            if len(rows) >= PAGE_SESSIONS:
                return SearchResult(tuple(rows), len(listed), len(listed) >= SCAN_SESSIONS)
    return SearchResult(tuple(rows), len(listed), len(listed) >= SCAN_SESSIONS)
