"""The turns of one run: one per attempt (a failover makes another), all sharing the run's id,
session, tools, dispatch token, budget and trace context."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

import attrs

from copass_router._context_window import Compactor, context_limit, fit
from copass_router._reasoning import portable_history
from copass_router._structured_output import request_for_backend
from copass_router._types import Binding, RunRequest, TranscriptTurn
from copass_router.accounting._metering import BudgetedDispatcher, RunCost
from copass_router.coordination import SigningKeys
from copass_router.provider_kit._backend import Turn
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.run._failover_policy import Target
from copass_router.run._live_runs import LiveRuns
from copass_router.run._prepared import Prepared
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
    #: What another provider's reasoning becomes in a turn's history (``"drop"``,
    #: ``"summarise"``; see :func:`portable_history`).
    reasoning_portability: str = "drop"
    #: What a history too big for the model becomes: ``"compact"`` or ``"error"``, and the
    #: compaction hook's chain (see :func:`fit`).
    context_overflow: str = "compact"
    compact: Compactor | None = None
    #: One per run, shared by every attempt's tool context and turn: middleware fills it at
    #: RunStarted, before the first attempt's backend starts (a failover's turn sees it too).
    trace_context: dict[str, str] = attrs.Factory(dict)
    #: What the first target's backend prepared while the session was claimed.
    prepared: Prepared | None = None

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
            request=self._request_for(target),
            run_id=self.run_id,
            session_id=self.session_id,
            model=target.model,
            history=self._portable(target, history),
            binding=binding,
            tools=dispatcher.specs,
            dispatch=lambda _turn, calls: dispatcher.run(calls, context),
            load_history=lambda: self._earlier_for(target, so_far, turn),
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
        fitted = fit(
            turn,
            turn.history,
            context_limit(target.backend, target.model),
            self.context_overflow,
            self.compact,
        )
        turn.history = tuple(fitted.history)
        if fitted.notice is not None:
            turn.emit(fitted.notice)
        turn.refusal = fitted.refusal
        if self.prepared is not None:
            turn.prepared, turn.prepared_session = self.prepared.take(target.backend)
        if dispatcher.approvals is not None:
            turn.approvals = TurnApprovals(dispatcher.approvals, context, turn.emit)
        gated = BudgetedDispatcher(dispatcher, self.cost, turn, budgeted=self.budgeted)
        self.live.add(turn, gated, context)
        return turn, context

    def _portable(self, target: Target, turns: Sequence[TranscriptTurn]) -> list[TranscriptTurn]:
        return portable_history(turns, target.provider, target.model, self.reasoning_portability)

    async def _earlier_for(
        self, target: Target, so_far: TranscriptTurn | None, turn: Turn
    ) -> list[TranscriptTurn]:
        """Every earlier turn, as ``Turn.full_history`` gives them: made portable, and made
        to fit the model as ``Turn.history`` was (a backend starting a native session sends
        these instead)."""
        from copass_router.content._support import history_refusal

        earlier = self._portable(target, await self.earlier_turns(so_far))
        limit = context_limit(target.backend, target.model)
        history = fit(turn, earlier, limit, self.context_overflow, self.compact).history
        # What the backend sends instead of ``Turn.history``: its parts are checked as those
        # were (a part the provider cannot take, parts over one request's limit).
        refusal = history_refusal(turn.provider, history, target.backend.part_support, turn.parts)
        if refusal is not None:
            raise refusal
        return history

    def _request_for(self, target: Target) -> RunRequest:
        """The target's request; with the output schema stated in the system prompt when the
        target's backend has no native structured-output mode."""
        return request_for_backend(target.request, target.backend.structured_output)

    async def earlier_turns(self, so_far: TranscriptTurn | None = None) -> list[TranscriptTurn]:
        """The session's turns before this one; ``so_far``: what failed attempts of this turn
        did, when the turn failed over."""
        earlier = (  # the session's first turn has none: no store call
            [t for t in await self.load_turns(self.session_id) if t.index < self.index]
            if self.index
            else []
        )
        return [*earlier, so_far] if so_far is not None else earlier
