"""Checking a run and claiming its session: what happens before a turn's first event.

The request is checked against its backend, its model resolved, its failover targets listed
and its budgets checked; then one store call claims the session and records the turn. Kept
apart from the Router so the run path reads as check, claim, drive, record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from collections.abc import Mapping

    from copass_router._types import RunRequest
    from copass_router.accounting._budgets import Budgets
    from copass_router.accounting._metering import ModelCallMeter, RunCost
    from copass_router.coordination import Coordinator, SigningKeys
    from copass_router.integrations.catalog import MCPCatalog
    from copass_router.plugin_host._plugins import PluginHost
    from copass_router.provider_kit._backend import AgentBackend
    from copass_router.run._dispatch_route import DispatchRoute
    from copass_router.run._failover_policy import FailoverPolicy, Target
    from copass_router.run._message_parts import MessageParts
    from copass_router.run._prepared import Prepared
    from copass_router.store import SessionStore
    from copass_router.store._base import TurnStart
    from copass_router.tools._tools import ToolDispatcher


class RunStart:
    """Mixed into :class:`~copass_router.Router`: checks a run and claims its session."""

    plugins: PluginHost
    parts: MessageParts
    failover: FailoverPolicy
    budgets: Budgets
    meter: ModelCallMeter
    _route: DispatchRoute
    _mcp: MCPCatalog | None

    if TYPE_CHECKING:  # the Router's other parts give these

        @property
        def store(self) -> SessionStore: ...

        @property
        def coordinator(self) -> Coordinator: ...

        async def backend(self, provider: str) -> AgentBackend: ...

        def _base_dispatcher(self) -> ToolDispatcher: ...

        def _answer_approval(self, question: Mapping[str, Any]) -> dict[str, Any]: ...

    async def _latest_session(self, request: RunRequest) -> RunRequest:
        """``request`` on its end user's most recently used session, if they have one."""
        import attrs

        from copass_router._outages import store_call

        async with store_call("find the end user's latest session"):
            latest = await self.store.list_sessions(request.end_user_id, 1)
        return attrs.evolve(request, session_id=latest[0].session_id) if latest else request

    async def _begin(
        self, request: RunRequest, cost: RunCost
    ) -> tuple[list[Target], TurnStart, ToolDispatcher, SigningKeys, Prepared | None]:
        """Check ``request`` and claim its session: where the turn may go, what the store
        began, the run's tools, the dispatch signing keys and what the backend prepares
        meanwhile (the first model call's budget reservation goes into ``cost``, released if
        the run does not start)."""
        from copass_router._errors import InvalidRequestError
        from copass_router._outages import store_call
        from copass_router.run._failover_policy import Target, fallback_targets

        backend = await self.backend(request.provider)
        fields_in_use = self.plugins.fields_in_use()
        request, own = await self.parts.check_for_backend(request, backend, fields_in_use, self)
        backend.validate(request)
        model = await backend.resolve_model(request)
        if not model:
            raise InvalidRequestError(
                f"provider {request.provider!r} needs a model; pass model=...", field="model"
            )
        targets = [Target(own, backend, model)]
        targets += await fallback_targets(request, self.failover, self.backend, fields_in_use)
        # No budget and no unrecorded call: nothing to check, no ledger read.
        if len(self.budgets) or self.meter.unrecorded:
            async with store_call("check the run's budgets"):  # the ledger lives in the store
                await self.meter.check(request, model, cost)
        try:
            return targets, *await self._claim(request, own, model, backend)
        except BaseException:
            await cost.settled()  # releases the reservation: no call will be made
            raise

    async def _claim(
        self, request: RunRequest, own: RunRequest, model: str, backend: AgentBackend
    ) -> tuple[TurnStart, ToolDispatcher, SigningKeys, Prepared | None]:
        """Claim the session for ``request``, while ``backend`` prepares the turn of ``own``
        (the request as it receives it)."""
        import uuid

        from copass_router._outages import store_call
        from copass_router.integrations.selection import kept_selection, run_dispatcher
        from copass_router.run._prepared import Prepared

        base, kept = self._base_dispatcher(), None
        if base.names() or self._mcp is not None:  # no tools, nothing kept narrows: no read
            async with store_call("read the session's tools"):
                kept = await kept_selection(self.store, request)
        dispatcher = await run_dispatcher(base, self._mcp, request, kept)
        # The provider-side work runs while the store claims the session: what needs no
        # session and, for a session the run starts, that session's (with the id it gets).
        new_id = f"ses_{uuid.uuid4().hex}" if request.session_id is None else None
        prepared = Prepared.start(backend, own, model, dispatcher.specs, new_id)
        if prepared is None or not prepared.prepares_session:
            new_id = None  # the store names the session
        else:
            await prepared.under_way()
        try:
            claimed = await self._claim_session(request, model, backend, dispatcher, new_id)
            return *claimed, prepared
        except BaseException:
            if prepared is not None:
                await prepared.cancel()  # the claim failed: the turn will not run
            raise

    async def _claim_session(
        self,
        request: RunRequest,
        model: str,
        backend: AgentBackend,
        dispatcher: ToolDispatcher,
        new_id: str | None,
    ) -> tuple[TurnStart, ToolDispatcher, SigningKeys]:
        import uuid

        from copass_router._outages import store_call

        # Before the session is claimed: a coordinator outage refuses the run cleanly.
        # Decisions for this run's calls may land on other workers: they ask this one.
        self.coordinator.answer_approvals(self._answer_approval)
        keys = await self._route.prepare()
        # One store call claims the session (SessionBusyError in any process while another
        # turn holds it), records this turn and reads what the provider has not seen.
        # Asked for only when a backend prepares the new session: a store of its own that
        # predates the argument still serves every other run.
        named: dict[str, Any] = {} if new_id is None else {"new_session_id": new_id}
        async with store_call("start the turn"):
            user = await self.parts.keep(self.store, request)  # the images and files first
            start = await self.store.begin_turn(
                session_id=request.session_id,
                end_user_id=request.end_user_id,
                run_id=f"run_{uuid.uuid4().hex}",
                provider=request.provider,
                model=model,
                with_binding=backend.keeps_native_session,
                **named,
                **user,
            )
            start = await self.parts.loaded(self.store, start)  # the history's images and files
        return start, dispatcher, keys
