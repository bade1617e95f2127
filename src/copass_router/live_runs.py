"""The runs in flight, so a dispatch callback can reach the run its token names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import attrs

from .backend import Turn
from .errors import DispatchAuthError, InvalidRequestError
from .events import ToolResult
from .tokens import DispatchClaims
from .tools import ToolContext, ToolDispatcher
from .types import ToolCallRequest


@attrs.define
class _LiveRun:
    turn: Turn
    dispatcher: ToolDispatcher
    context: ToolContext
    calls: dict[str, tuple[str, asyncio.Future[ToolResult]]] = attrs.field(factory=dict)
    workers: set[asyncio.Future[None]] = attrs.field(factory=set)


class LiveRuns:
    """Runs in flight by run id. A run leaves when it ends, and its token is useless after."""

    def __init__(self) -> None:
        self._runs: dict[str, _LiveRun] = {}

    def add(self, turn: Turn, dispatcher: ToolDispatcher, context: ToolContext) -> None:
        """A run has started."""
        self._runs[turn.run_id] = _LiveRun(turn, dispatcher, context)

    def remove(self, run_id: str) -> None:
        """A run has ended: its token stops working and tools it still runs are cancelled."""
        live = self._runs.pop(run_id, None)
        if live is not None:
            for worker in live.workers:
                worker.cancel()

    async def dispatch(
        self,
        claims: DispatchClaims,
        tool_name: str,
        arguments: Mapping[str, Any],
        call_id: str,
    ) -> ToolResult:
        """Run one call for the run ``claims`` names (see ``Router.handle_dispatch``)."""
        live = self._runs.get(claims.run_id)
        if live is None or live.context.session_id != claims.session_id:
            raise DispatchAuthError(f"run {claims.run_id} has ended", forbidden=True)
        if tool_name not in claims.tools:
            raise DispatchAuthError(
                f"tool {tool_name!r} is not allowed for this run", forbidden=True
            )
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError("call_id must be a non-empty string", field="call_id")
        fingerprint = json.dumps(arguments, sort_keys=True, default=str)
        seen = live.calls.get(call_id)
        if seen is not None:
            if seen[0] != fingerprint:
                raise DispatchAuthError(
                    f"call id {call_id!r} was already used with other arguments", forbidden=True
                )
            return await asyncio.shield(seen[1])
        future: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
        live.calls[call_id] = (fingerprint, future)
        call = ToolCallRequest(call_id, tool_name, dict(arguments))
        worker = asyncio.ensure_future(self._run_call(live, call, future))
        live.workers.add(worker)
        try:
            await worker
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller went away
            raise DispatchAuthError(
                f"run {claims.run_id} ended while the tool ran", forbidden=True
            ) from None
        finally:
            live.workers.discard(worker)
            if not future.done():
                future.cancel()
        return future.result()

    @staticmethod
    async def _run_call(
        live: _LiveRun, call: ToolCallRequest, future: asyncio.Future[ToolResult]
    ) -> None:
        async for event in live.dispatcher.run([call], live.context):
            # Marked, so middleware (a tracer) can tell a callback's events from in-process ones.
            via = {"copass_router": {"dispatch": "callback"}}
            live.turn.emit(attrs.evolve(event, provider_data=via))
            if isinstance(event, ToolResult):
                future.set_result(event)
