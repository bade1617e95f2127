"""Provider-side clean-up: deleted router sessions and agents nobody uses any more."""

from __future__ import annotations

import asyncio
from typing import Any

from copass_router_anthropic.backend import AnthropicBackend
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Router


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", message=message, **fields)]


async def test_deleting_a_router_session_deletes_its_anthropic_session(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    first = await run(anthropic_router, "hello", end_user_id="u-1")
    session_id = first[0].session_id
    binding = await anthropic_router.store.get_binding(session_id, "anthropic")
    assert binding is not None and binding.native_id in emulator.state.sessions
    await anthropic_router.delete_session(session_id, "u-1")
    assert binding.native_id not in emulator.state.sessions


async def test_agents_unused_for_a_while_are_archived_and_made_again_when_needed(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    await run(anthropic_router, "one", system="old prompt")
    backend = await anthropic_router.backend("anthropic")
    assert isinstance(backend, AnthropicBackend)
    sweeper = backend.sweeper
    (old_agent,) = emulator.state.agents
    start = sweeper.clock()
    sweeper.clock = lambda: start + 10 * 86400  # ten days on
    await run(anthropic_router, "two", system="new prompt")  # used now: stays
    # That run started a background sweep (one was due): it ends before the clock moves on,
    # or it would archive the old agent itself.
    async with asyncio.timeout(10):
        while sweeper.sweeping:  # noqa: ASYNC110 - the sweep is the backend's task
            await asyncio.sleep(0.01)
    sweeper.clock = lambda: start + 35 * 86400  # the old prompt's agent: 35 days idle
    assert await sweeper.sweep() == 1
    assert emulator.state.agents[old_agent].get("archived_at")
    kept = [a for a, rec in emulator.state.agents.items() if not rec.get("archived_at")]
    assert len(kept) == 1 and kept[0] != old_agent
    assert all(not e.get("archived_at") for e in emulator.state.environments.values())
    # The old configuration comes back: its agent is made anew, not the archived one reused.
    events = await run(anthropic_router, "three", system="old prompt")
    assert events[-1].stop_reason.value == "end_turn"
    assert emulator.state.creates["agent"] == 3


async def test_the_sweep_can_be_turned_off(
    make_anthropic_router: Any, emulator: EmulatorServer
) -> None:
    router = make_anthropic_router(COPASS_ANTHROPIC_ARCHIVE_AFTER="0")
    await run(router, "one")
    backend = await router.backend("anthropic")
    assert isinstance(backend, AnthropicBackend)
    backend.sweeper.clock = lambda: 1e12
    backend.sweeper.maybe_sweep()
    assert not backend.sweeper.sweeping
