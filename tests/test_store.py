"""Sessions in SQLite: persistence, bindings and what a native session has not seen."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    SQLiteStore,
    Turn,
    hookimpl,
)


class NativeBackend(AgentBackend):
    """Keeps a fake native session and records what history each turn received."""

    default_model = "native-1"
    keeps_native_session = True

    def __init__(self) -> None:
        self.histories: list[list[str]] = []
        self.loop_threads: set[int] = set()

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        self.histories.append([t.user for t in turn.history])
        self.loop_threads.add(threading.get_ident())
        turn.bind(turn.binding.native_id if turn.binding else f"native-{turn.session_id}")
        yield Message(text=f"native saw {turn.message}")


class NativePlugin:
    def __init__(self, backend: NativeBackend) -> None:
        self.backend = backend

    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("native", lambda context: self.backend)


async def test_a_native_session_gets_only_what_it_missed(
    make_router: Callable[..., Router],
) -> None:
    native = NativeBackend()
    router = make_router(plugins=[NativePlugin(native)])
    sid = (await router.complete(provider="native", message="n1")).session_id
    await router.complete(provider="native", message="n2", session_id=sid)
    await router.complete(provider="echo", message="e3", session_id=sid)
    await router.complete(provider="echo", message="e4", session_id=sid)
    await router.complete(provider="native", message="n5", session_id=sid)
    assert native.histories == [[], [], ["e3", "e4"]]
    binding = await router.store.get_binding(sid, "native")
    assert binding is not None and binding.synced_turns == 5
    assert binding.native_id == f"native-{sid}"


async def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    first = Router(store=url, load_entry_points=False, environ={})
    result = await first.complete(provider="echo", message="remember me", end_user_id="u1")
    await first.aclose()
    second = Router(store=url, load_entry_points=False, environ={})
    again = await second.complete(
        provider="echo", message="/recall", end_user_id="u1", session_id=result.session_id
    )
    assert "user: remember me" in again.text
    turns = await second.transcript(result.session_id, "u1")
    assert [t.index for t in turns] == [0, 1]
    await second.aclose()


async def test_store_calls_never_run_on_the_event_loop_thread() -> None:
    store = SQLiteStore(":memory:")
    seen: list[int] = []
    original = store._connect

    def spy() -> Any:
        seen.append(threading.get_ident())
        return original()

    store._connect = spy  # type: ignore[method-assign]
    start = await store.begin_turn(
        session_id=None,
        end_user_id="u",
        run_id="r",
        provider="echo",
        model="m",
        user="hi",
        with_binding=False,
    )
    await store.finish_turn(start.session.session_id, start.turn, start.lease)
    assert seen and threading.get_ident() not in seen
    await store.close()


async def test_delete_session_only_for_its_owner(router: Router) -> None:
    from copass_router import SessionNotFoundError

    sid = (await router.complete(provider="echo", message="x", end_user_id="a")).session_id
    try:
        await router.delete_session(sid, "b")
        raise AssertionError("b deleted a's session")
    except SessionNotFoundError:
        pass
    await router.delete_session(sid, "a")
    assert await router.list_sessions("a") == []


async def test_resources_are_namespaced_per_provider(router: Router) -> None:
    await router.store.put_resource("anthropic", "fp1", {"agent_id": "a1"})
    await router.store.put_resource("google", "fp1", {"engine": "e1"})
    assert await router.store.get_resource("anthropic", "fp1") == {"agent_id": "a1"}
    await router.store.delete_resource("anthropic", "fp1")
    assert await router.store.get_resource("anthropic", "fp1") is None
    assert await router.store.get_resource("google", "fp1") == {"engine": "e1"}
    await asyncio.sleep(0)


async def test_full_history_holds_earlier_turns_only(make_router: Callable[..., Router]) -> None:
    seen: list[list[str]] = []

    class FullHistory(NativeBackend):
        async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
            seen.append([t.user for t in await turn.full_history()])
            yield Message(text="ok")

    router = make_router(plugins=[NativePlugin(FullHistory())])
    sid = (await router.complete(provider="native", message="one")).session_id
    await router.complete(provider="native", message="two", session_id=sid)
    assert seen == [[], ["one"]]


async def test_provider_settings_reach_the_factory(make_router: Callable[..., Router]) -> None:
    from copass_router import BackendContext

    contexts: list[BackendContext] = []

    class Plugin:
        @hookimpl
        def copass_router_register_backends(self, register: Callable[..., None]) -> None:
            def factory(context: BackendContext) -> NativeBackend:
                contexts.append(context)
                return NativeBackend()

            register("configured", factory)

    policy = object()
    router = make_router(plugins=[Plugin()], provider_settings={"configured": {"policy": policy}})
    await router.complete(provider="configured", message="hi")
    assert contexts[0].settings["policy"] is policy


async def test_a_store_path_whose_directory_does_not_exist_is_an_error_not_a_mkdir(
    tmp_path: Path,
) -> None:
    from copass_router import ConfigurationError, Router

    missing = tmp_path / "no-such-dir"
    router = Router(store=f"sqlite:///{missing / 'x.db'}", environ={}, load_entry_points=False)
    with pytest.raises(ConfigurationError) as refused:
        await router.complete(provider="echo", message="hi")
    await router.aclose()
    assert str(missing) in str(refused.value) and "mkdir" in str(refused.value)
    assert not missing.exists()
