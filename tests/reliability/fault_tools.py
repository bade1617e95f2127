"""Tools for fault tests: ones that stall, raise or return what JSON cannot carry, counting
what ran and what was cancelled."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from copass_router import Tool, tool


class Tools:
    """The tools a fault test hands a run, with counts of what ran and what was cancelled."""

    def __init__(self) -> None:
        self.ran: Counter[str] = Counter()
        self.cancelled: Counter[str] = Counter()
        #: Set at teardown: a stalled tool returns then, so no task or worker thread outlives
        #: its test (and no server waits on one when it shuts down).
        self.release = threading.Event()
        self.gate = asyncio.Event()

    def lookup(self) -> Tool:
        @tool
        def lookup(key: str) -> str:
            """Look a key up."""
            self.ran["lookup"] += 1
            return f"value-{key}"

        return lookup

    def stall(self, timeout: float) -> Tool:
        @tool(timeout=timeout)
        async def stall(reason: str) -> str:
            """Never returns in time."""
            self.ran["stall"] += 1
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled["stall"] += 1
                raise
            return "too late"

        return stall

    def stall_sync(self, timeout: float) -> Tool:
        @tool(timeout=timeout)
        def stall_sync(reason: str) -> str:
            """Blocks its worker thread past its timeout."""
            self.ran["stall_sync"] += 1
            self.release.wait(5)
            return "too late"

        return stall_sync

    def returning(self, name: str, value: Callable[[], Any]) -> Tool:
        def function(reason: str) -> Any:
            self.ran[name] += 1
            return value()

        return tool(function, name=name, description="Returns what it was made to.")

    def raising(self, name: str, error: Callable[[], BaseException]) -> Tool:
        async def function(reason: str) -> str:
            self.ran[name] += 1
            raise error()

        return tool(function, name=name, description="Raises what it was made to.")
