"""`python -m bench.profile`: pyinstrument profiles of figures 1, 2 and 2z of
docs/performance.md, to see where their time goes. Writes bench/profile-*.txt."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from copass_router import Router

from . import event_overhead, router_turn, turn_latency
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


def main() -> None:
    from pyinstrument import Profiler

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


if __name__ == "__main__":
    main()
