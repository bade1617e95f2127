"""The runs in flight, so a dispatch callback can reach the run its token names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs

from copass_router._errors import DispatchAuthError, InvalidRequestError
from copass_router._events import Error, Event, ToolCall, ToolResult
from copass_router._types import StopReason, ToolCallRequest
from copass_router.coordination._forwarding import DispatchCall
from copass_router.provider_kit._backend import Turn
from copass_router.run._tokens import DispatchClaims
from copass_router.tools._tools import ToolContext, ToolDispatcher

#: Where a refused result says "the router ended this turn" (``provider_data`` key).
_ROUTER_DATA = "router"
#: Where a callback's ToolCall/ToolResult say they came through the callback (``provider_data``).
_CORE_DATA = "copass_router"


def ends_turn(result: ToolResult) -> bool:
    """Whether the router ended the run's turn instead of running this call (the dispatch
    endpoint tells the agent ``end_turn: true``: stop calling the model)."""
    data = (result.provider_data or {}).get(_ROUTER_DATA)
    return bool(isinstance(data, Mapping) and data.get("end_turn"))


@attrs.define
class _LiveRun:
    turn: Turn
    dispatcher: ToolDispatcher
    context: ToolContext
    calls: dict[str, tuple[str, asyncio.Future[ToolResult]]] = attrs.field(factory=dict)
    last_round: str | None = None
    workers: set[asyncio.Future[None]] = attrs.field(factory=set)


class LiveRuns:
    """Runs in flight by run id. A run leaves when it ends, and its token is useless after."""

    def __init__(self) -> None:
        self._runs: dict[str, _LiveRun] = {}

    def add(self, turn: Turn, dispatcher: ToolDispatcher, context: ToolContext) -> None:
        """A run has started."""
        self._runs[turn.run_id] = _LiveRun(turn, dispatcher, context)

    def cancel(self, run_id: str, reason: Error | None = None) -> bool:
        """Stop a run in flight as a consumer breaking out would (False: no such live run)."""
        live = self._runs.get(run_id)
        if live is None:
            return False
        if reason is not None and live.turn.stop_requested is None:
            live.turn.emit(reason)
        live.turn.request_stop(StopReason.CANCELLED)
        return True

    def remove(self, run_id: str) -> None:
        """A run has ended: its token stops working and tools it still runs are cancelled."""
        live = self._runs.pop(run_id, None)
        if live is not None:
            for worker in live.workers:
                worker.cancel()

    async def dispatch(self, claims: DispatchClaims, call: DispatchCall) -> ToolResult:
        """Run one call for the run ``claims`` names (see ``Router.handle_dispatch``)."""
        tool_name, arguments, call_id, round_id = (
            call.tool_name, call.arguments, call.call_id, call.round_id
        )  # fmt: skip
        live = self._runs.get(claims.run_id)
        if live is None or live.context.session_id != claims.session_id:
            raise DispatchAuthError(f"run {claims.run_id} has ended", forbidden=True)
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError("call_id must be a non-empty string", field="call_id")
        fingerprint = json.dumps([tool_name, arguments], sort_keys=True, default=str)
        seen = live.calls.get(call_id)
        if seen is not None:
            if seen[0] != fingerprint:
                raise DispatchAuthError(
                    f"call id {call_id!r} was already used for another call", forbidden=True
                )
            return await asyncio.shield(seen[1])
        # Calls of one model response form one round: the agent names it (``round_id``); without
        # a name, calls arriving while others of the run still run belong to the same round.
        if round_id is None:
            round_id = live.last_round if live.workers and live.last_round else f"call:{call_id}"
        if not live.turn.claim_tool_round(round_id):
            return _refused(live.turn, call_id, tool_name)
        live.last_round = round_id
        future: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
        live.calls[call_id] = (fingerprint, future)
        request = ToolCallRequest(call_id, tool_name, dict(arguments))
        # Marked, so middleware (a tracer) can tell a callback's events from in-process ones
        # and find the trace context the agent sent back.
        via: dict[str, Any] = {"dispatch": "callback"}
        if call.trace_context:
            via["trace_context"] = dict(call.trace_context)
        # A tool the token does not name never runs: the model gets an error result, as it
        # would from an in-process dispatcher, and the stream shows the call and its result.
        allowed = None if tool_name in claims.tools else sorted(claims.tools)
        worker = asyncio.ensure_future(
            self._run_call(live, request, future, {_CORE_DATA: via}, allowed)
        )
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
        live: _LiveRun,
        call: ToolCallRequest,
        future: asyncio.Future[ToolResult],
        via: Mapping[str, Any],
        unknown_among: list[str] | None,
    ) -> None:
        events = (
            live.dispatcher.run([call], live.context)
            if unknown_among is None
            else _unknown_tool(call, unknown_among)
        )
        async for event in events:
            live.turn.emit(attrs.evolve(event, provider_data=via))
            if isinstance(event, ToolResult):
                future.set_result(event)


async def _unknown_tool(call: ToolCallRequest, known: list[str]) -> AsyncIterator[Event]:
    yield ToolCall(call_id=call.call_id, name=call.name, arguments=dict(call.arguments))
    yield ToolResult(
        call_id=call.call_id,
        name=call.name,
        output=f"unknown tool {call.name!r}; available tools: {', '.join(known) or 'none'}",
        is_error=True,
    )


def _refused(turn: Turn, call_id: str, tool_name: str) -> ToolResult:
    limit = turn.request.max_tool_rounds
    return ToolResult(
        call_id=call_id,
        name=tool_name,
        output=f"not run: this turn has used its {limit} tool rounds (max_tool_rounds); "
        "the turn ends here",
        is_error=True,
        provider_data={_ROUTER_DATA: {"end_turn": True}},
    )
