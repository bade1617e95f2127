"""The router on each store: two store calls a turn, claims kept alive while a turn runs,
a killed process's turn recovered, and the ``store migrate`` command."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    RunFinished,
    SessionBusyError,
    TextDelta,
    Turn,
    TurnStatus,
    hookimpl,
)
from copass_router.cli._main import main as cli_main

CRASH = Path(__file__).with_name("crash_mid_turn.py")


class CountingStore:
    """The real store, with a count of the calls the router makes."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


async def test_a_turn_is_two_store_calls(store_url: str) -> None:
    opener = Router(store=store_url, load_entry_points=False, environ={})
    counting = CountingStore(opener.store)
    router = Router(store=counting, load_entry_points=False, environ={})  # type: ignore[arg-type]
    sid = (await router.complete(provider="echo", message="one")).session_id
    for text in ("two", "three"):
        await router.complete(provider="echo", message=text, session_id=sid)
    # The router asks once for the usage ledger beside the store (PostgreSQL's, no round trip);
    # the ledger's one write per model call goes on the store's pool, not through these methods.
    assert counting.calls.count("usage_ledger") <= 1
    assert [c for c in counting.calls if c != "usage_ledger"] == ["begin_turn", "finish_turn"] * 3
    assert [t.user for t in await router.transcript(sid, "local")] == ["one", "two", "three"]
    await opener.aclose()


async def test_a_long_turn_keeps_its_claim(store_url: str) -> None:
    """The lease is 0.5 s; the turn takes about four seconds; the claim is renewed meanwhile."""
    first = Router(store=store_url, load_entry_points=False, environ={})
    second = Router(store=store_url, load_entry_points=False, environ={})
    first.store.lease_seconds = 0.5  # type: ignore[attr-defined]
    sid = (await first.complete(provider="echo", message="hello")).session_id
    words = " ".join("abcdefghijklmnopqrstuvwxyzabcdefghijklmn")
    started = asyncio.Event()

    async def turn() -> str:
        events = first.run(provider="echo", message=f"/slow 0.1 {words}", session_id=sid)
        async for event in events:
            if isinstance(event, TextDelta):
                started.set()  # the turn holds its claim from here on
            if isinstance(event, RunFinished):
                return event.stop_reason.value
        raise AssertionError("the turn ended without run_finished")

    slow = asyncio.create_task(turn())
    await asyncio.wait_for(started.wait(), 30)
    for _ in range(12):  # 1.2 s or more, over two lease lengths, well inside the turn
        with pytest.raises(SessionBusyError):
            await second.complete(provider="echo", message="cut in", session_id=sid)
        await asyncio.sleep(0.1)
    assert not slow.done()
    assert await slow == "end_turn"
    await second.complete(provider="echo", message="after", session_id=sid)
    turns = await second.transcript(sid, "local")
    assert [(t.user[:5], t.status) for t in turns] == [
        ("hello", TurnStatus.COMPLETED),
        ("/slow", TurnStatus.COMPLETED),
        ("after", TurnStatus.COMPLETED),
    ]
    await first.aclose()
    await second.aclose()


async def test_a_killed_process_turn_is_interrupted_once_its_claim_lapses(
    store_url: str,
) -> None:
    router = Router(store=store_url, load_entry_points=False, environ={})
    sid = (await router.complete(provider="echo", message="before", end_user_id="u")).session_id
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH), store_url, sid, "1.0", stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 60) == b"started\n"
    child.send_signal(signal.SIGKILL)
    await child.wait()
    with pytest.raises(SessionBusyError):  # its claim has not lapsed yet
        await router.complete(provider="echo", message="too soon", session_id=sid, end_user_id="u")
    await asyncio.sleep(1.2)
    result = await router.complete(
        provider="echo", message="after", session_id=sid, end_user_id="u"
    )
    assert result.text == "echo: after"
    turns = await router.transcript(sid, "u")
    assert [(t.index, t.user[:5], t.status) for t in turns] == [
        (0, "befor", TurnStatus.COMPLETED),
        (1, "/slow", TurnStatus.INTERRUPTED),
        (2, "after", TurnStatus.COMPLETED),
    ]
    await router.aclose()


def test_store_migrate_command(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["store", "migrate", "--store", store_url]) == 0
    assert "applied migrations: 1" in capsys.readouterr().out
    assert cli_main(["store", "migrate", "--store", store_url]) == 0
    assert capsys.readouterr().out.strip() == "up to date"


class DeepBindingBackend(AgentBackend):
    """Answers, then binds its native session with data too deep to encode."""

    default_model = "deep"
    keeps_native_session = True

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        turn.bind("native-1", {"deep": deep})
        yield Message(text="answered")


class DeepPlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("deep", lambda context: DeepBindingBackend())


async def test_an_unencodable_binding_still_releases_the_session(store_url: str) -> None:
    router = Router(store=store_url, plugins=[DeepPlugin()], load_entry_points=False, environ={})
    sid = (await router.complete(provider="deep", message="one")).session_id
    after = await router.complete(provider="echo", message="two", session_id=sid)
    assert after.text == "echo: two"  # not SessionBusyError: the first turn let go
    turns = await router.transcript(sid, "local")
    assert [(t.user, t.status, t.text) for t in turns] == [
        ("one", TurnStatus.COMPLETED, "answered"),
        ("two", TurnStatus.COMPLETED, "echo: two"),
    ]
    assert await router.store.get_binding(sid, "deep") is None
    await router.aclose()
