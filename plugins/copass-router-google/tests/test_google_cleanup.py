"""Deleting a router session deletes its ADK session at the engine (real client, emulator)."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_google.deploy import make_client, static_token_credentials
from copass_router_google.emulator import GoogleEmulator

from copass_router import Router, SessionNotFoundError

CLIENTS: list[Any] = []  # a Client closes its connections when collected; keep them alive


def runtime_for(emulator: GoogleEmulator, name: str) -> Any:
    client = make_client(
        project=name.split("/")[1],
        location=name.split("/")[3],
        credentials=static_token_credentials("admin"),
        base_url=emulator.base_url,
    )
    CLIENTS.append(client)
    return client.runtimes.get(name=name)


async def adk_sessions(emulator: GoogleEmulator, engine: str, user_id: str) -> list[str]:
    listed = await runtime_for(emulator, engine).async_list_sessions(user_id=user_id)
    return sorted(s["id"] for s in listed["sessions"])


async def test_deleting_a_router_session_deletes_its_adk_session(
    google_router: Router, run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    kept = await run_google("another conversation", end_user_id="dana")
    first = await run_google("hello", end_user_id="dana")
    adk_id = fresh_emulator.requests_to("stream")[1].body["input"]["session_id"]
    assert adk_id in await adk_sessions(fresh_emulator, engine, "dana")
    await google_router.delete_session(first[0].session_id, "dana")
    deletes = [
        r.body["input"]
        for r in fresh_emulator.requests_to("query")
        if r.body["classMethod"] == "async_delete_session"
    ]
    assert deletes == [{"user_id": "dana", "session_id": adk_id}]
    remaining = await adk_sessions(fresh_emulator, engine, "dana")
    assert adk_id not in remaining and len(remaining) == 1  # the other conversation's stays
    assert (await google_router.get_session(kept[0].session_id, "dana")).session_id


async def test_another_users_session_is_not_touched(
    google_router: Router, run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    first = await run_google("mine", end_user_id="erin")
    with pytest.raises(SessionNotFoundError):
        await google_router.delete_session(first[0].session_id, "mallory")
    assert not any(
        r.body["classMethod"] == "async_delete_session" for r in fresh_emulator.requests_to("query")
    )


async def test_an_adk_session_already_gone_or_an_unreachable_engine_does_not_block_it(
    google_router: Router, run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    first = await run_google("hello", end_user_id="fay")
    second = await run_google("hello again", end_user_id="fay")
    adk_id = fresh_emulator.requests_to("stream")[0].body["input"]["session_id"]
    await runtime_for(fresh_emulator, engine).async_delete_session(user_id="fay", session_id=adk_id)
    await google_router.delete_session(first[0].session_id, "fay")
    fresh_emulator.faults.fail_next(503, path="*:query", count=10)
    await google_router.delete_session(second[0].session_id, "fay")  # logged, not raised
    for session in (first, second):
        with pytest.raises(SessionNotFoundError):
            await google_router.get_session(session[0].session_id, "fay")
