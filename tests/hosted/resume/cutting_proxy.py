"""A proxy that cuts chosen connections mid-response, as a flaky mobile network does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from copass_router.testing._cut_proxy import CutProxy


class CuttingProxy(CutProxy):
    """Forwards to ``target_port``; the n-th connection's response is cut after ``cuts[n]``
    bytes; connections past the list pass untouched. With ``gate``, every connection after the
    first waits for it before going through; with ``then_port``, they go to that port (another
    worker behind the same address)."""

    def __init__(
        self,
        target_port: int,
        cuts: Sequence[int],
        gate: asyncio.Event | None = None,
        then_port: int | None = None,
    ) -> None:
        super().__init__()
        self.target_port = target_port
        self.then_port = then_port or target_port
        self.gate = gate
        self.cuts = list(cuts)

    async def route(self, index: int) -> tuple[int, int | None]:
        if self.gate is not None and index > 0:
            await self.gate.wait()
        limit = self.cuts[index] if index < len(self.cuts) else None
        return (self.target_port if index == 0 else self.then_port), limit
