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


async def _direct(backend: ZeroCostBackend) -> float:
    start = time.perf_counter()
    async for _ in backend.run_turn(_HandTurn()):  # type: ignore[arg-type]
        pass
    return time.perf_counter() - start


async def _routed(router: Router) -> float:
    """One turn in a fresh session, as in figure 2 (a continued one would grow without end)."""
    start = time.perf_counter()
    async for _ in router.run(provider="zero", message=PROMPT, end_user_id="u"):
        pass
    return time.perf_counter() - start


async def measure(store_url: str, rounds: int = ROUNDS) -> list[float]:
    """Milliseconds the router adds per turn, one sample per round."""
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
    added = []
    for _ in range(rounds):
        a = await _direct(backend)
        added.append((await _routed(router) - a) * 1000)
    await router.aclose()
    return added


def run() -> list[Figure]:
    """The router's own milliseconds per turn on a SQLite file (median, spread in detail)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        samples = sorted(asyncio.run(measure(url)))
    value = statistics.median(samples)
    quartiles = statistics.quantiles(samples, n=4)
    return [
        Figure(
            "2z. router's own work per turn, zero-cost backend, SQLite (b-a)",
            value,
            "ms",
            "<= 0.5 ms",
            value <= 0.5,
            {
                "rounds": len(samples),
                "quartiles_ms": quartiles,
                "spread_ms": [samples[0], samples[-1]],
            },
        )
    ]


if __name__ == "__main__":
    figures = run()
    print_table(figures)
    print(figures[0].detail)
