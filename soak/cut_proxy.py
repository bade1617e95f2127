"""A loopback TCP proxy that cuts connections at random points, as a flaky network does."""

from __future__ import annotations

import random
from collections.abc import Sequence

from copass_router.testing._cut_proxy import CutProxy


class RandomCutProxy(CutProxy):
    """Forwards to one of ``ports`` (picked at random per connection). Each connection's
    response is cut with probability ``p`` after a random number of bytes from ``cut_range``.
    """

    def __init__(
        self, ports: Sequence[int], p: float, cut_range: tuple[int, int], seed: int = 0
    ) -> None:
        super().__init__()
        self.ports = list(ports)
        self.p = p
        self.cut_range = cut_range
        self.random = random.Random(seed)

    async def route(self, index: int) -> tuple[int, int | None]:
        limit = self.random.randint(*self.cut_range) if self.random.random() < self.p else None
        return self.random.choice(self.ports), limit
