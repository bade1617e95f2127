"""A backend prepares the provider side of a turn while the store claims the session: a failure
on either side leaves the transcript as a turn run one step after the other would.

Each test holds the claim until the preparation has reached the provider (the emulator saw its
request), so the two really overlap; then one side fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import copass_router_anthropic
import pytest
from copass_router_anthropic.emulator import EmulatorServer, running_emulator

from copass_router import (
    Error,
    Router,
    RunFinished,
    RunStarted,
    SessionBusyError,
    SessionStore,
    StopReason,
    TurnStatus,
)

KEY = "sk-ant-api03-TESTKEY0123456789abcdefABCDEF"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with running_emulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SessionStore]:
    opened = Router(store=store_url, load_entry_points=False, environ={}).store
    yield opened
    await opened.close()


@pytest.fixture
def router(store: SessionStore, emulator: EmulatorServer) -> Router:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": emulator.base_url}
    return Router(
        plugins=[copass_router_anthropic], load_entry_points=False, store=store, environ=env
    )


def hold_claims_until(store: SessionStore, reached: Callable[[], bool]) -> list[bool]:
    """Make the store's next claim wait until ``reached()`` (the preparation got to the
    provider); the list returned says, once the claim went on, whether it had."""
    begin_turn = store.begin_turn
    seen: list[bool] = []

    async def held(**kwargs: Any) -> Any:
        for _ in range(2000):  # a bound, so a missing overlap fails instead of hanging
            if reached():
                break
            await asyncio.sleep(0.005)
        seen.append(reached())
        store.begin_turn = begin_turn  # type: ignore[method-assign]
        return await begin_turn(**kwargs)

    store.begin_turn = held  # type: ignore[method-assign]
    return seen


async def events(router: Router, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", **fields)]


async def assert_consistent(router: Router, session_id: str, count: int) -> None:
    """Each turn once, in order, none left running."""
    turns = await router.transcript(session_id, "local")
    assert [t.index for t in turns] == list(range(count))
    assert len({t.run_id for t in turns}) == count
    assert TurnStatus.RUNNING not in {t.status for t in turns}


async def test_a_claim_refused_while_the_provider_side_is_prepared(
    router: Router, store: SessionStore, emulator: EmulatorServer
) -> None:
    first = await router.complete(provider="anthropic", message="hello", system="A")
    sid = first.session_id
    held = router.run(provider="anthropic", message="/long 50", system="A", session_id=sid)
    assert isinstance(await held.__anext__(), RunStarted)
    agents = emulator.state.creates["agent"]
    # Another system prompt: its preparation creates an agent while the claim is refused.
    seen = hold_claims_until(store, lambda: emulator.state.creates["agent"] > agents)
    with pytest.raises(SessionBusyError):
        await router.complete(provider="anthropic", message="two", system="B", session_id=sid)
    assert seen == [True]
    rest = [e async for e in held]
    assert isinstance(rest[-1], RunFinished) and rest[-1].stop_reason is StopReason.END_TURN
    after = await router.complete(provider="anthropic", message="three", system="B", session_id=sid)
    assert after.stop_reason is StopReason.END_TURN
    await assert_consistent(router, sid, 3)
    # The agent the refused run made is the one the next run used: nothing made twice.
    assert emulator.state.creates["agent"] == agents + 1
    assert emulator.state.creates["session"] == 2
    await router.aclose()


async def test_a_preparation_that_fails_while_the_claim_succeeds(
    router: Router, store: SessionStore, emulator: EmulatorServer
) -> None:
    first = await router.complete(provider="anthropic", message="hello", system="A")
    sid = first.session_id
    emulator.faults.fail_next(400, path="/v1/agents", method="POST")
    posts = lambda: len(emulator.requests.matching("/v1/agents", method="POST"))  # noqa: E731
    before = posts()
    seen = hold_claims_until(store, lambda: posts() > before)
    failed = await events(router, message="two", system="B", session_id=sid)
    assert seen == [True]
    assert any(isinstance(e, Error) for e in failed)
    assert failed[-1].stop_reason is StopReason.ERROR
    await assert_consistent(router, sid, 2)
    turns = await router.transcript(sid, "local")
    assert turns[1].status is TurnStatus.FAILED
    # The session goes on: the next run prepares again and runs.
    after = await router.complete(provider="anthropic", message="three", system="B", session_id=sid)
    assert after.stop_reason is StopReason.END_TURN
    await assert_consistent(router, sid, 3)
    await router.aclose()


async def test_the_agent_prepared_is_the_one_the_turn_runs_on(
    router: Router, emulator: EmulatorServer
) -> None:
    # The output schema is stated in the agent's system prompt: prepared with it, not without.
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    await events(router, message="hello", system="A", output_schema=schema)
    assert emulator.state.creates["agent"] == 1
    await router.aclose()
