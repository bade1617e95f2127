"""Figure 1: per-event overhead of Router.run against iterating the backend directly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from copass_router import AgentBackend, Event, Router, TextDelta, Turn, hookimpl

from .report import Figure

EVENTS = 100_000
RUNS = 5


class FloodBackend(AgentBackend):
    """Yields N fresh text deltas, as fast as it can."""

    default_model = "flood"

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        for _ in range(EVENTS):
            yield TextDelta(text="x")


class FloodPlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("flood", lambda context: FloodBackend())


class PassThrough:
    """A middleware that looks at every event and passes it on."""

    def __init__(self) -> None:
        self.seen = 0

    @hookimpl
    def copass_router_process_event(self, event: Any, context: Any) -> Any:
        self.seen += 1
        return event


async def _direct() -> float:
    backend = FloodBackend()
    start = time.perf_counter()
    count = 0
    async for _ in backend.run_turn(None):  # type: ignore[arg-type]
        count += 1
    return time.perf_counter() - start


async def _routed(router: Router) -> float:
    start = time.perf_counter()
    count = 0
    async for _ in router.run(provider="flood", message="go"):
        count += 1
    assert count == EVENTS + 2
    return time.perf_counter() - start


async def _measure(middleware: int) -> tuple[float, float]:
    plugins: list[object] = [FloodPlugin(), *(PassThrough() for _ in range(middleware))]
    router = Router(plugins=plugins, load_entry_points=False, store=":memory:", environ={})
    await _routed(router)  # warm up: plugin loading, store, imports
    direct, routed = [], []
    for _ in range(RUNS):
        direct.append(await _direct())
        routed.append(await _routed(router))
    await router.aclose()
    direct.sort()
    routed.sort()
    return direct[RUNS // 2], routed[RUNS // 2]


def run() -> list[Figure]:
    """Added microseconds per event, with no middleware and with three."""
    figures = []
    for middleware in (0, 3):
        direct, routed = asyncio.run(_measure(middleware))
        added_us = (routed - direct) / EVENTS * 1e6
        figures.append(
            Figure(
                f"1. per-event overhead, {middleware} middleware",
                added_us,
                "us/event",
                "< 5 us",
                added_us < 5,
                {
                    "direct_s": direct,
                    "routed_s": routed,
                    "events_per_second_routed": EVENTS / routed,
                },
            )
        )
        figures.append(
            Figure(
                f"1. events/s through Router.run, {middleware} middleware", EVENTS / routed, "ev/s"
            )
        )
    return figures
