"""Figure 6: 100 concurrent cold runs with one fingerprint against the Anthropic emulator:
how many agents and environments get created (target exactly one each), and the wall time."""

from __future__ import annotations

import asyncio
import time

from copass_router import Router, StopReason

from .report import Figure

RUNS = 100
KEY = "sk-ant-bench-0123456789abcdef"


async def _cold_runs(base_url: str) -> float:
    import copass_router_anthropic

    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base_url}
    router = Router(
        plugins=[copass_router_anthropic], load_entry_points=False, store=":memory:", environ=env
    )
    start = time.perf_counter()
    results = await asyncio.gather(
        *(
            router.complete(
                provider="anthropic",
                message=f"hello {i}",
                system="One fingerprint.",
                end_user_id=f"user-{i}",
            )
            for i in range(RUNS)
        )
    )
    wall = time.perf_counter() - start
    await router.aclose()
    failed = [r for r in results if r.stop_reason is not StopReason.END_TURN]
    assert not failed, failed[0].errors
    return wall


def run() -> list[Figure]:
    from copass_router_anthropic.emulator import running_emulator

    with running_emulator(api_key=KEY) as emu:
        wall = asyncio.run(_cold_runs(emu.base_url))
        agents, environments = emu.state.creates["agent"], emu.state.creates["environment"]
    return [
        Figure("6. 100 cold runs: agent creates", agents, "creates", "== 1", agents == 1),
        Figure(
            "6. 100 cold runs: environment creates",
            environments,
            "creates",
            "== 1",
            environments == 1,
        ),
        Figure("6. 100 cold runs: wall time", wall * 1000, "ms", detail={"sessions_created": RUNS}),
    ]
