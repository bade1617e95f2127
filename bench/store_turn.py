"""Store figure: store calls (round trips) and milliseconds per turn, SQLite and PostgreSQL.

Two sessions are continued turn after turn: one on a provider that keeps a native session (like
Anthropic or Google: a turn reads only what it missed, here nothing, so this is the fixed cost
of a turn), one on echo (no native session: a turn reads the whole transcript, which grows from
20 to 220 turns). A
counting proxy stands between the router and the store: it counts the store calls a turn makes
(on SQLite each is one hop to the store thread) and the time spent waiting for them; on
PostgreSQL a loopback relay also counts the round trips on the wire. Also the router's whole
time per turn. Times are medians over the turns (the machine is shared).

``python -m bench.store_turn [sqlite|postgresql|postgresql-async-commit ...]``; the PostgreSQL
URL comes from COPASS_ROUTER_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test)
and the figure uses a schema of its own, dropped at the end. ``postgresql-async-commit`` adds
``synchronous_commit=off`` (a commit does not wait for the WAL flush; see docs/stores.md).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from copass_router import AgentBackend, Event, Message, Router, Turn, hookimpl

from .report import Figure, print_table
from .wire_counter import RoundTripRelay

TURNS = 200
WARMUP = 20
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


class NativeBackend(AgentBackend):
    """Binds a native session and answers at once."""

    default_model = "native"
    keeps_native_session = True

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        turn.bind(turn.binding.native_id if turn.binding else "native-1")
        yield Message(text="ok")


class NativePlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("native", lambda context: NativeBackend())


class CountingStore:
    """Passes every call to the real store, counting calls and the time spent in them."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: dict[str, int] = {}
        self.seconds = 0.0

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr) or name == "close":
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            start = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return counted


async def _measure(url: str, provider: str, relay: RoundTripRelay | None) -> dict[str, Any]:
    opener = Router(store=url, load_entry_points=False, environ={})
    proxy = CountingStore(opener.store)
    router = Router(
        store=proxy,
        plugins=[NativePlugin()],
        load_entry_points=False,
        environ={},
    )
    turn = {"provider": provider, "message": "hi", "end_user_id": "u"}
    sid = (await router.complete(**turn)).session_id
    for _ in range(WARMUP):
        await router.complete(**turn, session_id=sid)
    proxy.reset()
    trips = relay.round_trips if relay else 0
    store_ms, turn_ms = [], []
    for _ in range(TURNS):
        waited, start = proxy.seconds, time.perf_counter()
        await router.complete(**turn, session_id=sid)
        turn_ms.append((time.perf_counter() - start) * 1000)
        store_ms.append((proxy.seconds - waited) * 1000)
    trips = (relay.round_trips - trips) if relay else 0
    calls = dict(proxy.calls)
    await router.aclose()
    await opener.aclose()
    return {
        "calls_per_turn": sum(calls.values()) / TURNS,
        "calls": {k: v / TURNS for k, v in sorted(calls.items())},
        "store_ms_per_turn": statistics.median(store_ms),
        "turn_ms": statistics.median(turn_ms),
        "round_trips_per_turn": trips / TURNS,
    }


def _pg_url(kind: str) -> tuple[str, str]:
    base = os.environ.get("COPASS_ROUTER_BENCH_POSTGRES", PG_DEFAULT)
    schema = f"copass_bench_{uuid.uuid4().hex[:10]}"
    url = base + ("&" if "?" in base else "?") + f"schema={schema}"
    if kind == "postgresql-async-commit":
        url += "&synchronous_commit=off"
    return url, schema


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.partition("?")[0])
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _figures(kinds: list[str]) -> list[Figure]:
    figures: list[Figure] = []
    for kind in kinds:
        cleanup: Callable[[], Any] | None = None
        relay: RoundTripRelay | None = None
        direct = ""
        if kind == "sqlite":
            tmp = tempfile.TemporaryDirectory()
            url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
            cleanup = tmp.cleanup
        else:
            direct, schema = _pg_url(kind)
            relay = RoundTripRelay(direct)
            url = await relay.start()
        try:
            native = await _measure(direct if relay else url, "native", None)
            echo = await _measure(direct if relay else url, "echo", None)
            if relay is not None:  # the relay adds its own latency: count through it only
                counted = await _measure(url, "native", relay)
                native["round_trips_per_turn"] = counted["round_trips_per_turn"]
        finally:
            if relay is not None:
                await relay.stop()
                await _drop_schema(direct, schema)
            elif cleanup:
                cleanup()
        calls, trips = native["calls_per_turn"], native["round_trips_per_turn"]
        figures += [
            Figure(f"store calls per turn ({kind})", calls, "calls",
                   "2 (one to start, one to end)", calls <= 2, detail=native["calls"]),
            *([Figure(f"PostgreSQL round trips per turn ({kind})", trips, "trips", "2",
                      trips <= 2)] if relay else []),
            Figure(f"store ms per turn, native session ({kind})",
                   native["store_ms_per_turn"], "ms"),
            Figure(f"router turn, native session ({kind})", native["turn_ms"], "ms"),
            Figure(f"store ms per turn, echo, 20-220 turns of history ({kind})",
                   echo["store_ms_per_turn"], "ms"),
        ]  # fmt: skip
    return figures


async def _postgres_answers() -> bool:
    try:
        await _drop_schema(_pg_url("postgresql")[0], "copass_bench_probe")
    except (ImportError, OSError):
        return False
    return True


def run(kinds: list[str] | None = None) -> list[Figure]:
    """The store figures (``make bench`` calls this; PostgreSQL only when it answers)."""
    if kinds is None:
        kinds = ["sqlite"]
        if asyncio.run(_postgres_answers()):
            kinds += ["postgresql", "postgresql-async-commit"]
        else:
            print("store_turn: PostgreSQL unreachable, SQLite figures only")
    return asyncio.run(_figures(kinds))


if __name__ == "__main__":
    figures = run(sys.argv[1:] or None)
    print_table(figures)
    for f in figures:
        if f.detail:
            print(f.name, f.detail)
