"""The mailbox :meth:`Turn.merge` waits on: a provider's items and wake-ups, in order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from copass_router._events import Event


class Mailbox:
    """Items in order from one task to another: an unbounded ``asyncio.Queue`` without the
    coroutine per put and the bookkeeping (on the per-event path of :meth:`Turn.merge`)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[tuple[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: tuple[str, Any]) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> tuple[str, Any]:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


async def nothing() -> AsyncIterator[Event]:
    """An event stream with no events (a tool round that runs nothing)."""
    return
    yield
