"""``copass-router sessions list|show|delete``: the stored sessions, as a reader looks for them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from copass_router._errors import RouterError, SessionNotFoundError

if TYPE_CHECKING:
    from copass_router._types import SessionInfo
    from copass_router.run._router import Router


def _when(timestamp: float) -> str:
    """ISO 8601, UTC, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def _row(router: Router, info: SessionInfo) -> dict[str, Any]:
    turns = await router.store.load_turns(info.session_id)
    last = turns[-1] if turns else None
    return {
        "session_id": info.session_id,
        "end_user_id": info.end_user_id,
        "turns": info.turn_count,
        "created_at": _when(info.created_at),
        "updated_at": _when(info.updated_at),
        "provider": last.provider if last else None,
        "model": last.model if last else None,
        "first_message": turns[0].user if turns else None,
    }


def _not_found(exc: SessionNotFoundError, end_user: str) -> RouterError:
    return RouterError(
        f"session {exc.session_id!r} not found for end user {end_user!r}; a session belongs "
        "to one end user: give theirs with --end-user ID (`copass-router sessions list` "
        "shows each session's end user)"
    )


async def sessions_command(args: argparse.Namespace, out: TextIO, router: Router) -> int:
    """List, show or delete sessions; the exit status."""
    try:
        if args.sessions_command == "show":
            await _show(args, out, router)
        elif args.sessions_command == "delete":
            await router.delete_session(args.session_id, args.end_user)
            out.write(f"deleted {args.session_id}\n")
        else:
            await _list(args, out, router)
        return 0
    except SessionNotFoundError as exc:
        raise _not_found(exc, args.end_user) from None
    finally:
        await router.aclose()


async def _list(args: argparse.Namespace, out: TextIO, router: Router) -> None:
    for info in await router.list_sessions(args.end_user, args.limit):
        row = await _row(router, info)
        if args.json:
            out.write(json.dumps(row) + "\n")
            continue
        first = _one_line(row["first_message"] or "")
        out.write(
            f"{row['session_id']}  {row['updated_at'].replace('T', ' ')}  "
            f"user={row['end_user_id']}  "
            f"{row['provider']}/{row['model']}  turns={row['turns']}  {first!r}\n"
        )


async def _show(args: argparse.Namespace, out: TextIO, router: Router) -> None:
    from copass_router._wire import turn_to_dict
    from copass_router.cli._render import EventPrinter
    from copass_router.content._parts import TextPart

    for turn in await router.transcript(args.session_id, args.end_user):
        if args.json:
            out.write(json.dumps(turn_to_dict(turn), default=str) + "\n")
            continue
        out.write(f"[{turn.index}] {turn.provider}/{turn.model} ({turn.status.value})\n")
        out.write(f"  user: {turn.user}\n")
        for part in turn.parts:
            if not isinstance(part, TextPart):
                where = part.url or f"{part.size} bytes, sha256 {part.sha256[:12]}"
                out.write(f"  {part.kind}: {part.media_type} ({where})\n")
        EventPrinter(out).show_items(turn.items)
