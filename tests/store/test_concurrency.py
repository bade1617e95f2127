"""No lost turns: concurrent continuations of one session from several processes, and a
delete racing a turn start."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from copass_router import Router, SessionBusyError, SessionNotFoundError

SCRIPT = Path(__file__).with_name("continue_session.py")
PROCESSES = 4
PER_PROCESS = 25


async def test_100_concurrent_cross_process_continuations_lose_no_turn(
    store_url: str,
) -> None:
    router = Router(store=store_url, load_entry_points=False, environ={})
    sid = (await router.complete(provider="echo", message="seed", end_user_id="u")).session_id
    if store_url.startswith("postgresql"):
        store_url += "&pool_size=3"  # the server is shared with other test runs
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            store_url,
            sid,
            f"p{p}",
            str(PER_PROCESS),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for p in range(PROCESSES)
    ]
    for child in children:  # every child has its store open: start them together
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"ready\n"
    outputs = await asyncio.wait_for(
        asyncio.gather(*(c.communicate(b"go\n") for c in children)), 180
    )
    assert [c.returncode for c in children] == [0] * PROCESSES
    reports = [json.loads(out) for out, _ in outputs]
    finished = [m for r in reports for m in r["done"]]
    assert len(finished) == PROCESSES * PER_PROCESS

    turns = await router.transcript(sid, "u")
    stored = [t.user for t in turns]
    lost = sorted(set(finished) - set(stored))
    busy = sum(r["busy"] for r in reports)
    print(
        f"\n{store_url.partition(':')[0]}: {len(lost)} of {len(finished)} turns lost, "
        f"{busy} SessionBusy retries"
    )
    await router.aclose()
    assert lost == []
    assert [t.index for t in turns] == list(range(1 + PROCESSES * PER_PROCESS))
    assert all(t.status.value == "completed" for t in turns)


async def test_a_delete_racing_a_turn_start_leaves_no_orphan_turn(store_url: str) -> None:
    runner = Router(store=store_url, load_entry_points=False, environ={})
    deleter = Router(store=store_url, load_entry_points=False, environ={})
    outcomes: set[str] = set()
    for _ in range(20):
        sid = (await runner.complete(provider="echo", message="a", end_user_id="u")).session_id

        async def turn(sid: str = sid) -> str:
            try:
                await runner.complete(provider="echo", message="b", session_id=sid, end_user_id="u")
                return "ran"
            except SessionNotFoundError:
                return "not_found"

        async def delete(sid: str = sid) -> str:
            try:
                await deleter.delete_session(sid, "u")
                return "deleted"
            except SessionBusyError:
                return "busy"

        ran, deleted = await asyncio.gather(turn(), delete())
        outcomes.add(f"{ran}/{deleted}")
        if deleted == "deleted":
            assert await deleter.store.load_turns(sid) == [], (ran, deleted)
            assert await deleter.store.get_session(sid, "u") is None
        else:
            assert [t.user for t in await deleter.transcript(sid, "u")] == ["a", "b"]
    print(f"\noutcomes: {sorted(outcomes)}")
    await runner.aclose()
    await deleter.aclose()
