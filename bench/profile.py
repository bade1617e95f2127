"""`python -m bench.profile`: pyinstrument profiles of figures 1, 2, 2z and 2p of
docs/performance.md, to see where their time goes. Writes bench/profile-*.txt.

Figure 2p is profiled side by side: the peer client's turns and `Router.run`'s turns on the
same Anthropic emulator, each kind in a profile of its own, with the wall and process CPU time
per turn printed beside them (`python -m bench.profile peer` profiles only these)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from copass_router import Router

from . import event_overhead, peer_turn, router_turn, turn_latency
from .emulator_process import emulator_process

HERE = Path(__file__).parent


async def _figure1() -> None:
    plugins = [event_overhead.FloodPlugin(), *(event_overhead.PassThrough() for _ in range(3))]
    router = Router(plugins=plugins, load_entry_points=False, store=":memory:", environ={})
    await event_overhead._routed(router)
    await event_overhead._routed(router)
    await router.aclose()


async def _figure2z() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await router_turn.measure(f"sqlite:///{Path(tmp) / 'bench.db'}", rounds=300)


async def _figure2(base_url: str) -> None:
    env = {"COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": base_url}
    router = Router(store=":memory:", environ=env, tools=[turn_latency.lookup])
    for _ in range(20):
        await turn_latency._through(router, provider="openai-compatible", model="m")
    await router.aclose()


async def _side_by_side(base_url: str, label: str, turns: int) -> None:
    """Profile ``turns`` peer turns and ``turns`` routed turns of one kind, interleaved."""
    from pyinstrument import Profiler

    env = {"ANTHROPIC_API_KEY": peer_turn.KEY, "ANTHROPIC_BASE_URL": base_url}
    router = Router(store=":memory:", environ=env, tools=[turn_latency.lookup])
    agent = peer_turn._peer_agent(base_url)
    prompt = peer_turn.TURNS[label]
    sides: dict[str, Callable[[], Awaitable[object]]] = {
        "peer": lambda: peer_turn._peer(agent, prompt),
        "routed": lambda: peer_turn._routed(router, prompt),
    }
    profilers = {name: Profiler(async_mode="enabled", interval=0.0005) for name in sides}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    try:
        for _ in range(5):  # warm: agent, environment and connections made
            for turn in sides.values():
                await turn()
        for _ in range(turns):
            for name, turn in sides.items():
                profilers[name].start()
                started, used = time.perf_counter(), time.process_time()
                await turn()
                cpu[name].append(time.process_time() - used)
                wall[name].append(time.perf_counter() - started)
                profilers[name].stop()
    finally:
        await router.aclose()
        await agent.backend._client.close()
    slug = label.split()[0].replace("-", "")
    for name, profiler in profilers.items():
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        (HERE / f"profile-figure2p-{slug}-{name}.txt").write_text(text)
        print(
            f"--- figure 2p, {label}, {name}: wall {statistics.median(wall[name]) * 1000:.1f} ms,"
            f" process CPU {statistics.median(cpu[name]) * 1000:.1f} ms per turn (medians)\n"
            + "\n".join(text.splitlines()[:30])
        )


def main(argv: list[str]) -> None:
    from pyinstrument import Profiler

    if argv != ["peer"]:
        figures = (("figure1", _figure1), ("figure2z", _figure2z), ("figure2", None))
        for name, make in figures:
            profiler = Profiler(async_mode="enabled")
            if make is not None:
                profiler.start()
                asyncio.run(make())
                profiler.stop()
            else:
                with emulator_process("openai") as root:
                    profiler.start()
                    asyncio.run(_figure2(root + "/v1"))
                    profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            (HERE / f"profile-{name}.txt").write_text(text)
            print(f"--- {name}\n" + "\n".join(text.splitlines()[:45]))
    with emulator_process("anthropic") as base_url:
        for label in peer_turn.TURNS:
            asyncio.run(_side_by_side(base_url, label, 30))


if __name__ == "__main__":
    main(sys.argv[1:])
