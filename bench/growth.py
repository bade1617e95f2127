"""Figure 5: one turn's cost on a session with 10, 1,000 and 10,000 earlier turns, for a
provider that keeps a native session (the store must read only what it has not seen)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import attrs

from copass_router import (
    AgentBackend,
    Binding,
    Event,
    Message,
    Router,
    SQLiteStore,
    Turn,
    TurnStatus,
    hookimpl,
)
from copass_router._types import AssistantItem

from .report import Figure

SIZES = (10, 1_000, 10_000)
RUNS = 100


class NativeBackend(AgentBackend):
    default_model = "native"
    keeps_native_session = True

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        turn.bind(turn.binding.native_id if turn.binding else "native-1")
        yield Message(text="ok")


class NativePlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("native", lambda context: NativeBackend())


async def _turn_cost(size: int) -> float:
    store = SQLiteStore(":memory:")
    router = Router(plugins=[NativePlugin()], load_entry_points=False, store=store, environ={})
    info = await store.create_session("u")
    # Seeding turns through a provider bound past them, so seeding reads no history.
    await store.put_binding(info.session_id, "seed", Binding("seed", synced_turns=size))
    for i in range(size):
        start = await store.begin_turn(
            session_id=info.session_id,
            end_user_id="u",
            run_id=f"run{i}",
            provider="seed",
            model="native",
            user=f"message {i}",
            with_binding=True,
        )
        items = (AssistantItem("reply " * 20),)
        done = attrs.evolve(start.turn, items=items, status=TurnStatus.COMPLETED)
        await store.finish_turn(info.session_id, done, start.lease)
    await router.complete(
        provider="native", message="sync", session_id=info.session_id, end_user_id="u"
    )  # binds: the native session now has seen everything
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await router.complete(
            provider="native", message="next", session_id=info.session_id, end_user_id="u"
        )
        samples.append(time.perf_counter() - start)
    await router.aclose()
    samples.sort()
    return samples[RUNS // 2] * 1000


def run() -> list[Figure]:
    costs = {size: asyncio.run(_turn_cost(size)) for size in SIZES}
    ratio = costs[SIZES[-1]] / costs[SIZES[0]]
    figures = [Figure(f"5. turn on a session with {n} turns", ms, "ms") for n, ms in costs.items()]
    figures.append(
        Figure("5. growth ratio 10,000 / 10 turns", ratio, "x", "<= 1.5 (flat)", ratio <= 1.5)
    )
    return figures
