"""A turn is two store calls: begin_turn claims the session, finish_turn records and releases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import attrs
import pytest

from copass_router import (
    AssistantItem,
    Binding,
    SessionBusyError,
    SessionNotFoundError,
    SessionStore,
    TurnStart,
    TurnStatus,
)


async def begin(
    store: SessionStore,
    session_id: str | None,
    user: str = "hi",
    *,
    end_user_id: str = "u",
    provider: str = "echo",
    with_binding: bool = False,
) -> TurnStart:
    return await store.begin_turn(
        session_id=session_id,
        end_user_id=end_user_id,
        run_id=f"run-{user}",
        provider=provider,
        model="m",
        user=user,
        with_binding=with_binding,
    )


async def finish(store: SessionStore, start: TurnStart, text: str = "ok", **kw: object) -> bool:
    done = attrs.evolve(start.turn, items=(AssistantItem(text),), status=TurnStatus.COMPLETED)
    return await store.finish_turn(start.session.session_id, done, start.lease, **kw)  # type: ignore[arg-type]


async def test_turns_get_the_next_index_and_the_whole_history(store: SessionStore) -> None:
    first = await begin(store, None, "one")
    sid = first.session.session_id
    assert (first.turn.index, first.history, first.binding) == (0, (), None)
    assert first.turn.status is TurnStatus.RUNNING
    assert await finish(store, first, "reply one")
    second = await begin(store, sid, "two")
    assert second.turn.index == 1
    assert [(t.index, t.user, t.text, t.status) for t in second.history] == [
        (0, "one", "reply one", TurnStatus.COMPLETED)
    ]
    assert await finish(store, second)
    info = await store.get_session(sid, "u")
    assert info is not None and info.turn_count == 2
    assert [t.user for t in await store.load_turns(sid)] == ["one", "two"]
    assert [t.user for t in await store.load_turns(sid, start=1)] == ["two"]


async def test_another_end_users_session_is_not_found(store: SessionStore) -> None:
    start = await begin(store, None)
    await finish(store, start)
    with pytest.raises(SessionNotFoundError):
        await begin(store, start.session.session_id, end_user_id="mallory")
    with pytest.raises(SessionNotFoundError):
        await begin(store, "ses_nope")
    assert await store.get_session(start.session.session_id, "mallory") is None


async def test_a_second_turn_while_one_runs_is_busy(store: SessionStore) -> None:
    start = await begin(store, None)
    sid = start.session.session_id
    with pytest.raises(SessionBusyError):
        await begin(store, sid, "again")
    assert await finish(store, start)
    assert (await begin(store, sid, "again")).turn.index == 1


async def test_the_binding_is_written_with_the_turn_and_limits_the_history(
    store: SessionStore,
) -> None:
    first = await begin(store, None, "one", provider="native", with_binding=True)
    sid = first.session.session_id
    assert await finish(store, first, binding=("native", Binding("n-1", 1, {"k": "v"})))
    other = await begin(store, sid, "two", provider="echo")
    assert await finish(store, other)
    again = await begin(store, sid, "three", provider="native", with_binding=True)
    assert again.binding == Binding("n-1", 1, {"k": "v"})
    assert [t.user for t in again.history] == ["two"]
    assert await store.get_binding(sid, "native") == Binding("n-1", 1, {"k": "v"})


async def test_a_lapsed_claim_is_interrupted_and_its_late_write_refused(
    open_store: Callable[..., SessionStore],
) -> None:
    store = open_store(lease_seconds=0.2)
    dead = await begin(store, None, "dies")
    sid = dead.session.session_id
    await asyncio.sleep(0.3)
    later = await begin(store, sid, "next")
    assert [(t.user, t.status) for t in later.history] == [("dies", TurnStatus.INTERRUPTED)]
    assert not await finish(store, dead, "late")  # fenced off: the session moved on
    assert not await store.renew_lease(sid, dead.lease)
    assert await finish(store, later)
    turns = await store.load_turns(sid)
    assert [(t.index, t.status, t.text) for t in turns] == [
        (0, TurnStatus.INTERRUPTED, ""),
        (1, TurnStatus.COMPLETED, "ok"),
    ]


async def test_reading_a_crashed_turn_marks_it_interrupted(
    open_store: Callable[..., SessionStore],
) -> None:
    store = open_store(lease_seconds=0.2)
    start = await begin(store, None, "dies")
    sid = start.session.session_id
    assert [t.status for t in await store.load_turns(sid)] == [TurnStatus.RUNNING]
    await asyncio.sleep(0.3)
    assert [t.status for t in await store.load_turns(sid)] == [TurnStatus.INTERRUPTED]
    # Nobody took over: the slow turn's own finish still records what it did.
    assert await finish(store, start, "slow but alive")
    assert [t.text for t in await store.load_turns(sid)] == ["slow but alive"]


async def test_a_renewed_claim_stays_busy(open_store: Callable[..., SessionStore]) -> None:
    store = open_store(lease_seconds=0.3)
    start = await begin(store, None)
    sid = start.session.session_id
    for _ in range(4):
        await asyncio.sleep(0.1)
        assert await store.renew_lease(sid, start.lease)
    with pytest.raises(SessionBusyError):
        await begin(store, sid, "again")
    assert await finish(store, start)
    assert not await store.renew_lease(sid, start.lease)  # released: nothing to renew


async def test_delete_waits_for_the_running_turn(store: SessionStore) -> None:
    start = await begin(store, None)
    sid = start.session.session_id
    with pytest.raises(SessionBusyError):
        await store.delete_session(sid, "u")
    assert await finish(store, start)
    assert not await store.delete_session(sid, "mallory")
    assert await store.delete_session(sid, "u")
    assert not await store.delete_session(sid, "u")
    assert await store.load_turns(sid) == []
    assert await store.get_binding(sid, "echo") is None


async def test_a_finish_after_the_delete_writes_nothing(
    open_store: Callable[..., SessionStore],
) -> None:
    store = open_store(lease_seconds=0.2)
    start = await begin(store, None)
    sid = start.session.session_id
    await asyncio.sleep(0.3)
    assert await store.delete_session(sid, "u")
    assert not await finish(store, start, binding=("echo", Binding("x", 1)))
    assert await store.load_turns(sid) == []
    assert await store.get_binding(sid, "echo") is None
    assert await store.get_session(sid, "u") is None


async def test_awkward_text_round_trips(store: SessionStore) -> None:
    text = 'nul \x00, emoji 😀, quote " and \\ backslash, newline \n, bidi \u202e'
    start = await begin(store, None, text)
    assert await finish(store, start, text)
    (turn,) = await store.load_turns(start.session.session_id)
    assert (turn.user, turn.text) == (text, text)


async def test_sessions_are_listed_newest_first_per_end_user(store: SessionStore) -> None:
    sids = []
    for user in ("a", "b", "a"):
        start = await begin(store, None, end_user_id=user)
        await finish(store, start)
        sids.append(start.session.session_id)
        await asyncio.sleep(0.01)
    assert [s.session_id for s in await store.list_sessions("a")] == [sids[2], sids[0]]
    assert [s.session_id for s in await store.list_sessions(None, 2)] == [sids[2], sids[1]]
    created = await store.create_session("c")
    assert await store.get_session(created.session_id, "c") == created


async def test_resources_are_namespaced(store: SessionStore) -> None:
    await store.put_resource("anthropic", "fp", {"agent_id": "a1"})
    await store.put_resource("google", "fp", {"engine": "e1"})
    await store.put_resource("anthropic", "fp", {"agent_id": "a2"})
    assert await store.get_resource("anthropic", "fp") == {"agent_id": "a2"}
    await store.delete_resource("anthropic", "fp")
    assert await store.get_resource("anthropic", "fp") is None
    assert await store.get_resource("google", "fp") == {"engine": "e1"}


async def test_reasoning_items_keep_their_provider_model_and_data(store: SessionStore) -> None:
    from copass_router import ReasoningItem

    start = await begin(store, None, "think")
    thought = ReasoningItem(
        "weighing it", "gemini-agents", "gemini-2.5-flash", {"g": {"sig": "s1"}}
    )
    done = attrs.evolve(
        start.turn, items=(thought, AssistantItem("done")), status=TurnStatus.COMPLETED
    )
    assert await store.finish_turn(start.session.session_id, done, start.lease)
    [turn] = await store.load_turns(start.session.session_id)
    assert turn.items == (thought, AssistantItem("done"))
    assert turn.text == "done"
