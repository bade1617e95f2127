"""Figure 2c: a backend's preparation beside the session's claim, against the two in a row.

The anthropic backend finds its agent and environment (``prepare_turn``) while the store
claims the session. This times text-only turns (~200 words, a new session each) on one router
and the Anthropic emulator, alternating turn by turn between the backend as it is and the same
backend with ``prepare_turn`` switched off (it then finds them after the claim, in
``run_turn``): the median of the pairs' ratios, to the first text delta and per whole turn, on
an SQLite file store and on a PostgreSQL schema (the local service, as figure 4w's).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from copass_router import Router, TextDelta

from .emulator_process import emulator_process
from .peer_turn import KEY, SYSTEM
from .report import Figure
from .turn_latency import lookup

ROUNDS = int(os.environ.get("COPASS_BENCH_ROUNDS", "100"))
PROMPT = "/long 200"


async def _turn(router: Router) -> tuple[float, float]:
    """Seconds to the first text delta and to the end of one turn."""
    start = time.perf_counter()
    first = 0.0
    async for event in router.run(message=PROMPT, provider="anthropic", system=SYSTEM):
        if not first and isinstance(event, TextDelta):
            first = time.perf_counter() - start
    return first, time.perf_counter() - start


async def _pairs(store: str, base_url: str) -> dict[str, Any]:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base_url}
    router = Router(store=store, environ=env, tools=[lookup])
    try:
        backend: Any = await router.backend("anthropic")
        for _ in range(5):  # warm up: the client, the agent and environment, the connections
            await _turn(router)
        first: list[float] = []
        whole: list[float] = []
        ms: dict[str, list[float]] = {"sequential": [], "overlapped": []}
        for _ in range(ROUNDS):
            backend.prepare_turn = lambda *args: None  # the turn finds them after the claim
            apart = await _turn(router)
            del backend.prepare_turn
            beside = await _turn(router)
            first.append(beside[0] / apart[0])
            whole.append(beside[1] / apart[1])
            ms["sequential"].append(apart[0] * 1000)
            ms["overlapped"].append(beside[0] * 1000)
    finally:
        await router.aclose()
    return {
        "first_delta": statistics.median(first),
        "first_delta_quartiles": statistics.quantiles(first, n=4),
        "turn": statistics.median(whole),
        "first_delta_ms": {k: statistics.median(v) for k, v in ms.items()},
        "rounds": ROUNDS,
    }


async def _measure(base_url: str) -> list[Figure]:
    from .scale_out import services

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = await _pairs(f"sqlite:///{tmp}/sessions.db", base_url)
    async with services() as env:
        results["PostgreSQL"] = await _pairs(env["COPASS_ROUTER_STORE"], base_url)
    figures = []
    for name, data in results.items():
        q = data["first_delta_quartiles"]
        ms = data["first_delta_ms"]
        print(
            f"  {name}: to the first delta {data['first_delta']:.3f} of the sequential turn's"
            f" (quartiles {q[0]:.3f}-{q[2]:.3f}; {ms['sequential']:.2f} -> "
            f"{ms['overlapped']:.2f} ms), whole turn {data['turn']:.3f}",
            flush=True,
        )
        figures.append(
            Figure(
                f"2c. {name}: first delta, preparation beside the claim / after it",
                data["first_delta"],
                "x",
                "<= 1.00",
                data["first_delta"] <= 1.0,
                data,
            )
        )
    return figures


def run() -> list[Figure]:
    with emulator_process("anthropic") as base_url:
        return asyncio.run(_measure(base_url))
