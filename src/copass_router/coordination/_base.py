"""What workers share live: the coordinator interface, and the embedded one-process default.

A :class:`Coordinator` gives backends named locks and a shared create budget, and gives the
router its dispatch-token signing keys and the route from a dispatch callback to the worker
whose run it names. The embedded default (:class:`LocalCoordinator`) does all of that inside
one process; ``COPASS_ROUTER_COORDINATOR=redis://...`` shares it across workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from copass_router._errors import DispatchAuthError
from copass_router.coordination._keys import SigningKeys

#: Handles a dispatch call forwarded from another worker: the call in, the answer out (both
#: JSON objects; see ``coordination/forwarding.py``).
ForwardHandler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
#: Answers a question about approvals asked of every worker (a decision or a listing for a
#: run that may be waiting here): the question in, this worker's answer out (JSON objects).
ApprovalAnswerer = Callable[[Mapping[str, Any]], dict[str, Any]]


class Coordinator:
    """The interface every coordinator has (and, as it is, the embedded one-process default).

    ``worker_id`` names this process among the workers; ``shared`` says whether other
    processes see the same locks, budgets and keys.
    """

    shared = False

    def __init__(self) -> None:
        self.worker_id = f"w{secrets.token_hex(6)}"
        self._locks: dict[str, asyncio.Lock] = {}
        self._windows: dict[str, deque[float]] = {}
        self._holds: dict[str, float] = {}
        self._pacing: dict[str, asyncio.Lock] = {}
        self._keys: SigningKeys | None = None
        self._approvals: list[ApprovalAnswerer] = []

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float = 30.0) -> AsyncIterator[None]:
        """Hold the lock ``name`` (waiting for it) for the ``async with`` block.

        Across workers the lock lapses ``ttl`` seconds after its holder dies; while the holder
        lives it is renewed.
        """
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    async def pace(self, name: str, limit: int, period: float) -> None:
        """Wait until one more start fits the budget ``name`` (``limit`` starts per ``period``
        seconds, counted across every worker sharing the coordinator), and count it."""
        async with self._pacing.setdefault(name, asyncio.Lock()):
            while True:
                wait = self._try_take(name, max(1, limit), period, time.monotonic())
                if wait <= 0:
                    return
                await asyncio.sleep(wait)

    def _try_take(self, name: str, limit: int, period: float, now: float) -> float:
        starts = self._windows.setdefault(name, deque())
        while starts and starts[0] <= now - period:
            starts.popleft()
        wait = self._holds.get(name, 0.0) - now
        if len(starts) >= limit:
            wait = max(wait, starts[0] + period - now)
        if wait <= 0:
            starts.append(now)
        return wait

    async def hold(self, name: str, seconds: float) -> None:
        """Start nothing under the budget ``name`` for ``seconds`` (a provider's retry-after)."""
        self._holds[name] = max(self._holds.get(name, 0.0), time.monotonic() + seconds)

    async def signing_keys(self, *, refresh: bool = False) -> SigningKeys:
        """The keys dispatch tokens are signed and verified with (a random one per process
        here; shared and rotatable with Redis)."""
        if self._keys is None:
            self._keys = SigningKeys.generate()
        return self._keys

    async def rotate_signing_key(self, *, retire_after: float) -> str:
        """Sign with a new key from now on; the old ones verify for ``retire_after`` seconds
        more (at least a token's lifetime). Returns the new key's id."""
        keys = await self.signing_keys()
        self._keys = keys.rotated(retire_after)
        return self._keys.current

    async def listen(self, handler: ForwardHandler) -> None:
        """Start taking dispatch calls other workers forward here (idempotent)."""

    async def forward(self, worker_id: str, call: Mapping[str, Any], wait: float) -> Any:
        """Hand a dispatch call to the worker running its run; its answer (a JSON object)."""
        raise DispatchAuthError("the run has ended (its worker is gone)", forbidden=True)

    def answer_approvals(self, answerer: ApprovalAnswerer) -> None:
        """Answer, with ``answerer`` (beside those given before: routers sharing this
        coordinator), the approval questions other workers ask of all; the answers go out
        once this worker listens (:meth:`listen`). Giving one again changes nothing."""
        if answerer not in self._approvals:
            self._approvals.append(answerer)

    async def ask_approvals(self, question: Mapping[str, Any], wait: float) -> list[dict[str, Any]]:
        """Ask every other listening worker about approvals (the run waiting for a decision
        may be on any of them); their answers, as many as came within ``wait`` seconds. One
        process has no others: no answers."""
        return []

    async def ping(self) -> None:
        """Raise when the coordinator cannot be reached (nothing to reach in one process)."""

    async def aclose(self) -> None:
        """Release connections and background tasks."""


LocalCoordinator = Coordinator
