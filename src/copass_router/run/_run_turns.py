"""The turns of one run: one per attempt (a failover makes another), all sharing the run's id,
session, tools, dispatch token, budget and trace context."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

import attrs

from copass_router._types import Binding, RunRequest, TranscriptTurn
from copass_router.accounting._metering import BudgetedDispatcher, RunCost
from copass_router.coordination import SigningKeys
from copass_router.provider_kit._backend import Turn
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.run._failover import Target
from copass_router.run._live_runs import LiveRuns
from copass_router.run._tokens import mint_token
from copass_router.tools._approvals import TurnApprovals
from copass_router.tools._tools import ToolContext, ToolDispatcher


@attrs.define
class RunTurns:
    """Makes each attempt's :class:`Turn` and :class:`ToolContext` (``TurnDriver(new_turn=)``)
    and registers it with the live runs, so dispatch callbacks reach it."""

    request: RunRequest
    run_id: str
    session_id: str
    #: The index of this run's turn in the session: earlier turns are its history.
    index: int
    dispatcher: ToolDispatcher
    keys: SigningKeys
    timeout: float | None
    cost: RunCost
    budgeted: bool
    worker_id: str
    dispatch_url: str | None
    retry_policy: RetryPolicy
    live: LiveRuns
    load_turns: Callable[[str], Awaitable[list[TranscriptTurn]]]
    #: One per run, shared by every attempt's tool context and turn: middleware fills it at
    #: RunStarted, before the first attempt's backend starts (a failover's turn sees it too).
    trace_context: dict[str, str] = attrs.Factory(dict)

    def __call__(
        self,
        target: Target,
        history: Sequence[TranscriptTurn],
        binding: Binding | None,
        so_far: TranscriptTurn | None = None,
    ) -> tuple[Turn, ToolContext]:
        request, dispatcher = self.request, self.dispatcher
        context = ToolContext(
            self.run_id, self.session_id, request.end_user_id, target.provider, target.model,
            dict(request.metadata), trace_context=self.trace_context,
        )  # fmt: skip
        turn = Turn(
            request=target.request,
            run_id=self.run_id,
            session_id=self.session_id,
            model=target.model,
            history=history,
            binding=binding,
            tools=dispatcher.specs,
            dispatch=lambda _turn, calls: dispatcher.run(calls, context),
            load_history=lambda: self.earlier_turns(so_far),
            dispatch_token=functools.partial(  # minted if a backend asks for it
                mint_token,
                self.keys,
                run_id=self.run_id,
                session_id=self.session_id,
                end_user_id=request.end_user_id,
                tools=dispatcher.names(),
                ttl=(self.timeout or 3600) + 60,
                worker=self.worker_id,
            ),
            dispatch_url=self.dispatch_url,
            retry_policy=self.retry_policy,
            trace_context=self.trace_context,
        )
        if dispatcher.approvals is not None:
            turn.approvals = TurnApprovals(dispatcher.approvals, context, turn.emit)
        gated = BudgetedDispatcher(dispatcher, self.cost, turn, budgeted=self.budgeted)
        self.live.add(turn, gated, context)
        return turn, context

    async def earlier_turns(self, so_far: TranscriptTurn | None = None) -> list[TranscriptTurn]:
        """The session's turns before this one; ``so_far``: what failed attempts of this turn
        did, when the turn failed over."""
        earlier = (  # the session's first turn has none: no store call
            [t for t in await self.load_turns(self.session_id) if t.index < self.index]
            if self.index
            else []
        )
        return [*earlier, so_far] if so_far is not None else earlier
