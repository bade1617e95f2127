"""The agent/environment cache: single-flight, pacing under the create limit, 404 recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import copass_router_anthropic
from copass_router_anthropic.emulator import EmulatorServer, running_emulator

from copass_router import Error, Router, RunFinished, StopReason, tool

from .conftest import API_KEY


async def finish(router: Router, message: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", message=message, **fields)]


def outcome(events: list[Any]) -> tuple[StopReason, list[str]]:
    assert isinstance(events[-1], RunFinished)
    return events[-1].stop_reason, [e.message for e in events if isinstance(e, Error)]


async def test_concurrent_cold_runs_create_each_resource_once(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    runs = [finish(anthropic_router, f"hello {n}", system="shared") for n in range(10)]
    results = await asyncio.gather(*runs)
    assert all(outcome(events) == (StopReason.END_TURN, []) for events in results)
    assert emulator.state.creates == {"agent": 1, "environment": 1, "session": 10}


async def test_a_changed_tool_set_is_a_new_agent(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    @tool
    def first(x: str) -> str:
        """One tool."""
        return x

    @tool
    def second(x: str) -> str:
        """Another tool."""
        return x

    await finish(anthropic_router, "a", tools=[first])
    await finish(anthropic_router, "b", tools=[first])
    await finish(anthropic_router, "c", tools=[first, second])
    await finish(anthropic_router, "d", tools=[first], model="claude-haiku-4-5")
    bodies = [r.body for r in emulator.state.requests_to("POST", "/v1/agents")]
    assert [[t["name"] for t in b["tools"]] for b in bodies] == [
        ["first"],
        ["first", "second"],
        ["first"],
    ]
    assert [b["model"] for b in bodies][-1] == "claude-haiku-4-5"
    assert emulator.state.creates["environment"] == 1


async def test_a_restarted_router_reuses_stored_resources(
    make_anthropic_router: Callable[..., Router], emulator: EmulatorServer, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'router.db'}"
    first = make_anthropic_router(store=store)
    await finish(first, "one", system="kept")
    await first.aclose()
    second = make_anthropic_router(store=store)
    events = await finish(second, "two", system="kept")
    assert outcome(events) == (StopReason.END_TURN, [])
    assert emulator.state.creates == {"agent": 1, "environment": 1, "session": 2}


async def test_a_stale_cached_agent_is_recreated_once(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    await finish(anthropic_router, "warm the cache", system="P")
    (stale,) = emulator.state.agents
    emulator.state.forget_agent(stale)
    events = await finish(anthropic_router, "after the agent vanished", system="P")
    assert outcome(events) == (StopReason.END_TURN, [])
    assert emulator.state.creates["agent"] == 2 and stale not in emulator.state.agents
    assert len(emulator.state.requests_to("GET", f"/v1/agents/{stale}")) == 1
    # The replacement is cached: the next run creates nothing.
    await finish(anthropic_router, "and again", system="P")
    assert emulator.state.creates["agent"] == 2


async def test_61_fingerprints_in_a_window_all_complete(
    make_router: Callable[..., Router],
) -> None:
    # The real limit is 60 creates a minute; a 3-second window keeps the test short.
    with running_emulator(api_key=API_KEY, create_limit=60, create_period=3.0) as emu:
        router = make_anthropic(make_router, emu, limit="60", period="3")
        runs = [finish(router, "hi", system=f"prompt {n}") for n in range(61)]
        results = await asyncio.gather(*runs)
        assert [outcome(events) for events in results] == [(StopReason.END_TURN, [])] * 61
        assert emu.state.creates == {"agent": 61, "environment": 1, "session": 61}


async def test_a_429_on_create_waits_for_retry_after(make_router: Callable[..., Router]) -> None:
    # The backend does not know the emulator's limit here, so the emulator says 429.
    with running_emulator(api_key=API_KEY, create_limit=4, create_period=1.0) as emu:
        router = make_anthropic(make_router, emu, limit="1000", period="1")
        results = await asyncio.gather(*(finish(router, "x", system=f"p{n}") for n in range(6)))
        assert [outcome(events) for events in results] == [(StopReason.END_TURN, [])] * 6
        assert emu.state.rate_limited >= 1
        assert emu.state.creates == {"agent": 6, "environment": 1, "session": 6}


def make_anthropic(
    make_router: Callable[..., Router], emu: EmulatorServer, *, limit: str, period: str
) -> Router:
    return make_router(
        plugins=[copass_router_anthropic],
        environ={
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": emu.base_url,
            "COPASS_ANTHROPIC_CREATE_LIMIT": limit,
            "COPASS_ANTHROPIC_CREATE_PERIOD": period,
        },
    )


async def test_concurrent_runs_on_a_deleted_environment_recreate_it_once(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    await finish(anthropic_router, "warm the cache")
    (stale,) = emulator.state.environments
    async with anthropic.AsyncAnthropic(api_key=API_KEY, base_url=emulator.base_url) as client:
        await client.beta.environments.delete(stale)
    results = await asyncio.gather(*(finish(anthropic_router, f"run {n}") for n in range(5)))
    assert [outcome(events) for events in results] == [(StopReason.END_TURN, [])] * 5
    assert emulator.state.creates == {"agent": 1, "environment": 2, "session": 6}
