"""What a turn asks of the store: a new session's first turn has no earlier turns to read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from copass_router import Message, Router, SQLiteStore


class CountingStore(SQLiteStore):
    """The SQLite store, counting the transcript reads it serves."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.loads = 0

    async def load_turns(self, *args: Any, **kwargs: Any) -> Any:
        self.loads += 1
        return await super().load_turns(*args, **kwargs)


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
