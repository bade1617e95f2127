"""What a turn asks of the store: a new session's first turn has no earlier turns to read, and
the agent and environment a busy configuration runs on are not read again every turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Message, Router, SQLiteStore


class CountingStore(SQLiteStore):
    """The SQLite store, counting the transcript reads it serves."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.loads = 0
        self.resource_reads = 0

    async def load_turns(self, *args: Any, **kwargs: Any) -> Any:
        self.loads += 1
        return await super().load_turns(*args, **kwargs)

    async def get_resource(self, *args: Any, **kwargs: Any) -> Any:
        self.resource_reads += 1
        return await super().get_resource(*args, **kwargs)


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", message=message, **fields)]


async def test_a_new_sessions_first_turn_reads_no_earlier_turns(
    make_anthropic_router: Callable[..., Router],
) -> None:
    store = CountingStore()
    router = make_anthropic_router(store=store)
    first = await run(router, "first message")
    assert store.loads == 0
    # The session goes on with its memory.
    second = await run(router, "/recall", session_id=first[0].session_id)
    text = "".join(e.text for e in second if isinstance(e, Message))
    assert "first message" in text


async def test_a_busy_configuration_reads_its_resources_once(
    make_anthropic_router: Callable[..., Router], emulator: EmulatorServer
) -> None:
    store = CountingStore()
    router = make_anthropic_router(store=store)
    await run(router, "one")
    reads = store.resource_reads
    for text in ("two", "three", "four"):
        events = await run(router, text)
        assert any(isinstance(e, Message) for e in events)
    assert store.resource_reads == reads  # the agent and environment read once, then known
    # An agent the API no longer has: the next run finds out, makes a new one and runs.
    for agent in emulator.state.agents.values():
        agent["archived_at"] = "2026-01-01T00:00:00Z"
    emulator.state.agents.clear()
    events = await run(router, "five")
    assert "".join(e.text for e in events if isinstance(e, Message)) == "echo: five"
    assert emulator.state.creates["agent"] == 2
