"""A process that dies mid-turn: ``python crash_mid_turn.py STORE_URL SESSION_ID LEASE_SECONDS``
starts a slow echo turn on the session, prints ``started`` once the turn runs, and waits to be
killed."""

from __future__ import annotations

import asyncio
import sys

from copass_router import Router, RunStarted


async def main(url: str, sid: str, lease_seconds: float) -> None:
    router = Router(store=url, load_entry_points=False, environ={})
    router.store.lease_seconds = lease_seconds  # type: ignore[attr-defined]
    message = "/slow 5 " + " ".join(f"w{i}" for i in range(100))
    async for event in router.run(
        provider="echo", message=message, session_id=sid, end_user_id="u"
    ):
        if isinstance(event, RunStarted):
            print("started", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
