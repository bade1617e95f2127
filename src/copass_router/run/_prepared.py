"""What a backend prepares for a turn while the store claims the session (``prepare_turn``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copass_router._types import RunRequest, ToolSpec
    from copass_router.provider_kit._backend import AgentBackend


class Prepared:
    """The backend's preparation, running in a task of its own beside the claim.

    The turn of the backend that started it takes it once (:meth:`take`). Once the claim
    failed, or the run's turns are over, it is cancelled if still running (:meth:`cancel`):
    nothing waits for it then. Its failure is the turn's, raised where the backend awaits it;
    one nobody awaits is dropped with the task.
    """

    def __init__(self, backend: AgentBackend, task: asyncio.Future[Any]) -> None:
        self._backend = backend
        self._task = task
        self._taken = False

    @classmethod
    def start(
        cls, backend: AgentBackend, request: RunRequest, model: str, tools: Sequence[ToolSpec]
    ) -> Prepared | None:
        """Start ``backend``'s preparation of ``request``'s turn; None: it has none."""
        from copass_router._structured_output import request_for_backend

        # The request as the turn will give it: the agent prepared is the one the turn needs.
        request = request_for_backend(request, backend.structured_output)
        work = backend.prepare_turn(request, model, tools)
        if work is None:
            return None
        task = asyncio.ensure_future(work)
        task.add_done_callback(_retrieve)
        return cls(backend, task)

    def take(self, backend: AgentBackend) -> asyncio.Future[Any] | None:
        """The preparation, for the first turn on the backend that started it."""
        if backend is not self._backend or self._taken:
            return None
        self._taken = True
        return self._task

    async def cancel(self) -> None:
        """Stop the preparation if it is still running."""
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A failure nobody awaits (the claim failed first) is not a lost error to report.
    if not task.cancelled():
        task.exception()
