"""Figure 2z: the router's own work per turn, measured with a zero-cost backend.

The backend plays figure 2's turn with no SDK and no network: one tool call (``lookup``, a
sync tool), then about 200 text deltas, a message and a usage report. (a) drives it by hand
with the smallest dispatch that runs the tool; (b) is ``Router.run`` on a SQLite file store.
b - a is everything the router does for a turn: validation, the two store calls, the tool
call's validation and execution path, stamping, recording and the transcript write. Rounds
alternate a and b; the figure is the median of the paired differences, with their spread.

``python -m bench.router_turn``
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    TextDelta,
    ToolCallRequest,
    ToolResult,
    Turn,
    Usage,
    hookimpl,
)

from .report import Figure, print_table
from .turn_latency import PROMPT, lookup

ROUNDS = 300
WARMUP = 30
DELTAS = 200


class ZeroCostBackend(AgentBackend):
    """Figure 2's turn with nothing behind it: a tool round trip, then streamed text."""

    default_model = "zero"

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        call = ToolCallRequest(call_id="call_1", name="lookup", arguments={"key": "k"})
        output = ""
        async for event in turn.dispatch([call]):
            yield event
            if isinstance(event, ToolResult):
                output = event.output
        words = output.split(" ")[:DELTAS]
        for word in words:
            yield TextDelta(text=word + " ")
        yield Message(text=" ".join(words))
        yield Usage(input_tokens=20, output_tokens=len(words))


class ZeroCostPlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("zero", lambda context: ZeroCostBackend())


class _HandTurn:
    """The least a hand-written loop does for the backend: run the tool, nothing else."""

    async def _dispatch(self, calls: Any) -> AsyncIterator[Event]:
        for call in calls:
            text = lookup.function(**call.arguments)
            yield ToolResult(call_id=call.call_id, name=call.name, output=text)

    def dispatch(self, calls: Any, **_: Any) -> AsyncIterator[Event]:
        return self._dispatch(calls)


async def _direct(backend: ZeroCostBackend) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    async for _ in backend.run_turn(_HandTurn()):  # type: ignore[arg-type]
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


async def _routed(router: Router) -> tuple[float, float]:
    """One turn in a fresh session, as in figure 2 (a continued one would grow without end)."""
    wall, cpu = time.perf_counter(), time.process_time()
    async for _ in router.run(provider="zero", message=PROMPT, end_user_id="u"):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(store_url: str, rounds: int = ROUNDS) -> tuple[list[float], list[float]]:
    """Milliseconds the router adds per turn, one sample per round: wall clock, and CPU time
    of the whole process (the store's and the tool's worker threads included)."""
    router = Router(
        plugins=[ZeroCostPlugin()],
        load_entry_points=False,
        store=store_url,
        environ={},
        tools=[lookup],
    )
    backend = ZeroCostBackend()
    for _ in range(WARMUP):
        await _direct(backend)
        await _routed(router)
    wall, cpu = [], []
    for _ in range(rounds):
        a_wall, a_cpu = await _direct(backend)
        b_wall, b_cpu = await _routed(router)
        wall.append((b_wall - a_wall) * 1000)
        cpu.append((b_cpu - a_cpu) * 1000)
    await router.aclose()
    return wall, cpu


def _figure(name: str, samples: list[float], target: float | None) -> Figure:
    samples = sorted(samples)
    value = statistics.median(samples)
    return Figure(
        name,
        value,
        "ms",
        f"<= {target:g} ms" if target else "",
        value <= target if target else None,
        {
            "rounds": len(samples),
            "quartiles_ms": statistics.quantiles(samples, n=4),
            "spread_ms": [samples[0], samples[-1]],
        },
    )


def run() -> list[Figure]:
    """The router's own milliseconds per turn on a SQLite file (medians; spread in detail)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        wall, cpu = asyncio.run(measure(url))
    # Reported, not a target: what a turn costs against a provider is figure 2p's target.
    return [
        _figure("2z. router's own work per turn, zero-cost backend, SQLite, CPU (b-a)", cpu, None),
        _figure("2z. the same, wall clock (b-a; + 3 thread hops' wake-ups)", wall, None),
    ]


if __name__ == "__main__":
    figures = run()
    print_table(figures)
    for f in figures:
        print(f.name, f.detail)
