"""What a backend prepares for a turn while the store claims the session (``prepare_turn``)
and, for a run that starts a new session, for that session (``prepare_session``)."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from copass_router._logs import get_logger

if TYPE_CHECKING:
    from copass_router._types import RunRequest, ToolSpec
    from copass_router.provider_kit._backend import AgentBackend

log = get_logger("copass_router.run")

#: Seconds a run's end waits for a session preparation no turn awaited, to undo what it made.
DISCARD_WAIT = 10.0


class Prepared:
    """The backend's preparations, each running in a task of its own beside the claim.

    The turn of the backend that started them takes them once (:meth:`take`). Once the claim
    failed, or the run's turns are over (:meth:`cancel`), the turn's preparation is cancelled if
    still running: nothing waits for it then. The session's is never cut short, since what it
    makes must be undone: unless a turn awaited it, it is waited for and what it made handed to
    the backend's ``discard_session``. A failure is the turn's, raised where the backend awaits
    it; one nobody awaits is dropped with the task.
    """

    def __init__(
        self,
        backend: AgentBackend,
        task: asyncio.Future[Any] | None,
        session: asyncio.Future[Any] | None,
    ) -> None:
        self._backend = backend
        self._task = task
        self._session = None if session is None else _Owned(session)
        self._taken = False

    @classmethod
    def start(
        cls,
        backend: AgentBackend,
        request: RunRequest,
        model: str,
        tools: Sequence[ToolSpec],
        new_session_id: str | None,
    ) -> Prepared | None:
        """Start ``backend``'s preparation of ``request``'s turn and, when the run starts a
        session (``new_session_id``, the id the store gives it), of that session; None: it
        has neither."""
        import attrs

        from copass_router._structured_output import request_for_backend

        # The request as the turn will give it: the agent prepared is the one the turn needs.
        request = request_for_backend(request, backend.structured_output)
        task = _started(backend.prepare_turn(request, model, tools))
        session = None
        if new_session_id is not None:
            new = attrs.evolve(request, session_id=new_session_id)
            session = _started(backend.prepare_session(new, model, tools, task))
        if task is None and session is None:
            return None
        return cls(backend, task, session)

    @property
    def prepares_session(self) -> bool:
        """Whether the backend prepares the new session (the store must give it that id)."""
        return self._session is not None

    async def under_way(self) -> None:
        """Let the preparations run up to their first wait (a request sent, its answer not
        yet in) before the claim's store call starts: the two then wait for their servers
        together, where the store's thread would otherwise wait for the interpreter while
        the preparation builds its request."""
        await asyncio.sleep(0)

    def take(self, backend: AgentBackend) -> tuple[Any, Any]:
        """The turn's and the session's preparations (either None), for the first turn on the
        backend that started them."""
        if backend is not self._backend or self._taken:
            return None, None
        self._taken = True
        return self._task, self._session

    async def cancel(self) -> None:
        """Stop the turn's preparation if it is still running; undo the session's if no turn
        awaited it."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})
        owned, self._session = self._session, None
        if owned is None or owned.awaited:
            return
        await asyncio.wait({owned.task}, timeout=DISCARD_WAIT)
        if not owned.task.done():  # the provider does not answer: give up on it
            owned.task.cancel()
            log.warning("prepared_session_abandoned", after_seconds=DISCARD_WAIT)
            return
        if owned.task.cancelled() or owned.task.exception() is not None:
            return  # nothing was made (its failure, nobody's to report, was the turn's)
        try:
            await self._backend.discard_session(owned.task.result())
        except Exception as exc:  # what it made outlives the run: say so
            log.warning("prepared_session_not_discarded", error=type(exc).__name__)


class _Owned:
    """A session's preparation that remembers whether a turn awaited it (then what it made is
    the backend's, not the router's to undo)."""

    def __init__(self, task: asyncio.Future[Any]) -> None:
        self.task = task
        self.awaited = False

    def __await__(self) -> Generator[Any, None, Any]:
        self.awaited = True
        return self.task.__await__()


def _started(work: Any) -> asyncio.Future[Any] | None:
    if work is None:
        return None
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A failure nobody awaits (the claim failed first) is not a lost error to report.
    if not task.cancelled():
        task.exception()
