"""A managed runtime's tool calls, answered as they arrive, each in a task of its own.

A managed runtime (Claude Managed Agents, the OpenAI Agents API) runs the model loop itself and
pauses for each custom tool call it cannot run: the backend runs the tool through the router
and sends the result back, while the provider's event stream goes on. :class:`ToolTasks` does
the part every such backend shares: one task per answer (the calls of one step run at once),
the tool's events into the turn's stream as they happen (``Turn.merge`` shows them live), a
failure to answer as the turn's one :class:`~copass_router.Error`, and what is still running
cancelled when the turn ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from copass_router._errors import ProviderError
from copass_router._events import Error, ToolCall, ToolResult
from copass_router._logs import get_logger, scrub
from copass_router._types import ToolCallRequest
from copass_router.provider_kit._turn import Turn

log = get_logger("copass_router.tool_tasks")

#: What a backend's SDK error becomes (its ``ProviderError``); None for an exception that is
#: not the SDK's (a bug: the turn fails with ``internal_error``).
ErrorMapper = Callable[[Exception], ProviderError | None]


class ToolTasks:
    """The tool answers of one turn on ``provider``; ``sdk_error`` maps what sending an answer
    raised. Read :attr:`failed` after each stream event: the turn ends (its Error is already
    in the stream)."""

    def __init__(self, turn: Turn, provider: str, sdk_error: ErrorMapper) -> None:
        self.turn = turn
        self.provider = provider
        self._sdk_error = sdk_error
        self._tasks: set[asyncio.Task[None]] = set()
        #: Answering a call failed: the turn must end.
        self.failed = False

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (answering one call) in a task of its own; its failure ends the turn."""
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(
        self, call: ToolCallRequest, round_id: str, *, call_shown: bool = False
    ) -> ToolResult | None:
        """Run one call through the router's dispatcher, its events into the turn's stream
        (``call_shown``: its ``ToolCall`` is already there); its result, None if none came."""
        result: ToolResult | None = None
        async for event in self.turn.dispatch([call], round_id=round_id):
            if call_shown and isinstance(event, ToolCall):
                continue
            self.turn.emit(event)
            if isinstance(event, ToolResult):
                result = event
        return result

    async def close(self) -> None:
        """Cancel the answers still running (the turn is over) and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:
            err = self._sdk_error(exc)
            if err is not None:
                self._fail(err.code, str(err), err.retryable, {"status": err.status})
            else:
                log.warning("tool_answer_failed", run_id=self.turn.run_id, error=scrub(repr(exc)))
                self._fail("internal_error", "answering a tool call failed unexpectedly", False, {})

    def _fail(self, code: str, message: str, retryable: bool, detail: dict[str, Any]) -> None:
        # Emitting wakes the turn's merge loop, which sees the failure and ends the turn.
        self.failed = True
        detail = {k: v for k, v in detail.items() if v is not None}
        self.turn.emit(
            Error(
                code=code,
                message=message,
                retryable=retryable,
                provider=self.provider,
                detail=detail,
            )
        )
