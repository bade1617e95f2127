"""Anthropic agents and environments across workers: one create per fingerprint, whichever
workers the cold runs land on, and one create budget for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from copass_router import RemoteRouter, RunResult, StopReason

from .cluster import Worker, cluster

KEY = "sk-ant-scale-0123456789abcdef"


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[list[Worker]]:
    env = {
        "COPASS_ROUTER_STORE": postgres_url,
        "COPASS_ROUTER_COORDINATOR": redis_url,
        "SCALE_LEDGER": str(tmp_path / "ledger.txt"),
        "ANTHROPIC_API_KEY": KEY,
        # The workers pace a little under the emulator's window, as under the real one.
        "COPASS_ANTHROPIC_CREATE_LIMIT": "4",
        "COPASS_ANTHROPIC_CREATE_PERIOD": "3.3",
    }
    with cluster(env, tmp_path) as pair:
        yield pair


async def _spread(workers: list[Worker], systems: list[str]) -> list[RunResult]:
    """One cold run per system prompt, alternating between the workers, all at once."""
    remotes = [RemoteRouter(w.url, timeout=120) for w in workers]
    try:
        return list(
            await asyncio.gather(
                *(
                    remotes[i % len(remotes)].complete(
                        provider="anthropic", message=f"hi {i}", system=system, end_user_id=f"u{i}"
                    )
                    for i, system in enumerate(systems)
                )
            )
        )
    finally:
        for remote in remotes:
            await remote.aclose()


async def test_cold_runs_on_two_workers_create_one_agent_and_one_environment(
    workers: list[Worker],
) -> None:
    from copass_router_anthropic.emulator import running_emulator

    with running_emulator(api_key=KEY) as emu:
        for worker in workers:
            await asyncio.to_thread(worker.start, ANTHROPIC_BASE_URL=emu.base_url)
        results = await _spread(workers, ["One fingerprint."] * 40)
        assert [r.stop_reason for r in results] == [StopReason.END_TURN] * 40
        assert (emu.state.creates["agent"], emu.state.creates["environment"]) == (1, 1)


async def test_the_create_budget_is_paced_across_workers(workers: list[Worker]) -> None:
    from copass_router_anthropic.emulator import running_emulator

    # 8 fingerprints, 3 cold runs each, over two workers: 9 creates, paced by the workers at 4
    # per 3.3 s, and the emulator answers a fifth create within 1.5 s with a 429. Paced alone,
    # each worker would take 4 at once; the 1.8 s margin absorbs a busy machine's delays between
    # the pacer's grant and the create reaching the emulator.
    with running_emulator(api_key=KEY, create_limit=4, create_period=1.5) as emu:
        for worker in workers:
            await asyncio.to_thread(worker.start, ANTHROPIC_BASE_URL=emu.base_url)
        results = await _spread(workers, [f"fingerprint {i % 8}" for i in range(24)])
        assert [r.stop_reason for r in results] == [StopReason.END_TURN] * 24
        assert (emu.state.creates["agent"], emu.state.creates["environment"]) == (8, 1)
        assert emu.state.rate_limited == 0
