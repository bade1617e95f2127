"""Router: validate -> pick backend -> run the turn -> middleware -> record the transcript."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from copass_router._logs import get_logger
from copass_router.run._approvals_api import ApprovalsAPI
from copass_router.run._dispatch_api import DispatchCallbacks
from copass_router.run._opened_resources import OpenedResources
from copass_router.run._provider_discovery import ProviderDiscovery
from copass_router.run._run_start import RunStart
from copass_router.run._sessions_api import SessionsAPI
from copass_router.run._usage_api import UsageAPI

# What a run needs is imported where it is first used (building the router, its first run):
# `from copass_router import Router` loads no attrs class, no store and no plugin machinery.
if TYPE_CHECKING:
    from copass_router._events import Error, Event
    from copass_router._types import RunRequest, TranscriptTurn
    from copass_router.accounting._budgets import Budget
    from copass_router.accounting._usage import UsageLedger
    from copass_router.content._blobs import PartPolicy
    from copass_router.coordination import Coordinator
    from copass_router.integrations.catalog import MCPCatalog
    from copass_router.integrations.config import MCPServer
    from copass_router.provider_kit._backend import AgentBackend, Turn
    from copass_router.provider_kit._retries import RetryPolicy
    from copass_router.run._failover_policy import FailoverPolicy
    from copass_router.run._results import RunResult
    from copass_router.store import SessionStore
    from copass_router.store._base import TurnStart
    from copass_router.tools._approvals import ApprovalHandler
    from copass_router.tools._tools import Tool, ToolDispatcher

#: ``Router(max_message_chars=...)``'s default: ``run._requests.MAX_MESSAGE_CHARS``.
MAX_MESSAGE_CHARS = 1_000_000

log = get_logger("copass_router.router")


async def store_turn(
    store: SessionStore, start: TurnStart, record: TranscriptTurn, turn: Turn, had_binding: bool
) -> None:
    """The turn's final record (:func:`~copass_router.run._recorder.store_turn`, loaded with
    the first run's)."""
    from copass_router.run._recorder import store_turn as record_turn

    await record_turn(store, start, record, turn, had_binding)


class Router(
    OpenedResources,
    ProviderDiscovery,
    RunStart,
    SessionsAPI,
    DispatchCallbacks,
    UsageAPI,
    ApprovalsAPI,
):
    """Runs agent turns on any installed provider and streams neutral events.

    :param plugins: plugin objects or modules to register beside the installed ones.
    :param load_entry_points: load plugins installed under the ``copass_router`` entry point.
    :param store: a :class:`SessionStore`, a store URL, or None for ``COPASS_ROUTER_STORE`` /
        the SQLite file in the user data directory.
    :param environ: where backends read keys and base URLs (default: ``os.environ``).
    :param strict_plugins: raise when a plugin fails to load instead of skipping it.
    :param tools: tools every run may use, beside those plugins register.
    :param tool_timeout: seconds a tool may run unless it sets its own timeout.
    :param turn_timeout: default bound on a whole turn, in seconds (None: unbounded).
    :param dispatch_secret: key for run-scoped dispatch tokens (default:
        ``COPASS_ROUTER_DISPATCH_SECRET``, ``COPASS_ROUTER_DISPATCH_KEYS``, else the
        coordinator's keys: random per process, or shared and rotatable on Redis).
    :param dispatch_url: where deployed agents reach this router's dispatch endpoint.
    :param max_message_chars: longer messages are refused (``PayloadTooLargeError``).
    :param provider_settings: per provider, settings handed to its backend factory as
        ``BackendContext.settings`` (e.g. ``{"anthropic": {"permission_policy": fn}}``).
    :param retry_policy: how retryable provider errors before any output are retried
        (default: ``COPASS_ROUTER_MAX_RETRIES`` or two retries with jittered backoff;
        ``RetryPolicy(max_retries=0)``: none).
    :param failover: the default failover policy: where a turn goes on when its provider
        fails (see :class:`FailoverPolicy`; a run's own ``fallbacks`` replace its list).
    :param ledger: where model calls are counted (a :class:`UsageLedger`, or a SQLite or
        ``postgresql://`` URL); None: beside the store (its PostgreSQL schema, its SQLite
        file), else in memory.
    :param budgets: spending limits (see :class:`Budget`), besides those configured in
        ``COPASS_ROUTER_BUDGETS``; change them later through :attr:`budgets`.
    :param coordinator: what workers share live (locks, the create budget, signing keys, the
        route of dispatch callbacks): a :class:`Coordinator`, a URL, or None for
        ``COPASS_ROUTER_COORDINATOR`` / the embedded one-process default.
    :param continue_latest_session: a run without a ``session_id`` continues its end user's
        most recently used session (a new one only for an end user without any), so an end
        user's conversation carries over from run to run and provider to provider; a run with
        a ``session_id`` is unchanged. Default: ``COPASS_ROUTER_CONTINUE_LATEST_SESSION``
        (``1``/``true``), else off: each run without a session id starts a session.
    :param mcp_servers: MCP servers (:class:`MCPServer` or its JSON form) whose tools every
        run may use, besides those ``COPASS_ROUTER_MCP_SERVERS`` configures (see
        docs/integrations.md). Only the operator adds servers; a run can only narrow.
    :param require_approval: tool names or patterns whose calls wait for approval (beside
        tools that ask for it themselves, and ``COPASS_ROUTER_REQUIRE_APPROVAL``); see
        :meth:`approve`.
    :param approval_handler: decides waiting calls (True/False, or None to leave it to
        :meth:`approve`/:meth:`deny`); may be async.
    :param approval_timeout: seconds a call waits for a decision before it is denied
        (default: ``COPASS_ROUTER_APPROVAL_TIMEOUT``, else 120).
    :param reasoning_portability: reasoning in another provider's history: ``"drop"``
        (default; ``COPASS_ROUTER_REASONING_PORTABILITY``) or ``"summarise"``.
    :param context_overflow: a history too big for the model: ``"compact"`` (default;
        ``COPASS_ROUTER_CONTEXT_OVERFLOW``) or ``"error"``, refused before any call.
    :param part_policy: images and files: bytes kept per end user and tenant, URLs fetched.
    """

    def __init__(
        self,
        *,
        plugins: Sequence[object] = (),
        load_entry_points: bool = True,
        store: SessionStore | str | None = None,
        environ: Mapping[str, str] | None = None,
        strict_plugins: bool = False,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        tool_timeout: float = 60.0,
        turn_timeout: float | None = None,
        dispatch_secret: bytes | str | None = None,
        dispatch_url: str | None = None,
        provider_settings: Mapping[str, Mapping[str, Any]] | None = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        retry_policy: RetryPolicy | None = None,
        failover: FailoverPolicy | None = None,
        ledger: UsageLedger | str | None = None,
        budgets: Sequence[Budget] = (),
        coordinator: Coordinator | str | None = None,
        continue_latest_session: bool | None = None,
        mcp_servers: Sequence[MCPServer | Mapping[str, Any]] = (),
        require_approval: Sequence[str] = (),
        approval_handler: ApprovalHandler | None = None,
        approval_timeout: float | None = None,
        reasoning_portability: str | None = None,
        context_overflow: str | None = None,
        part_policy: PartPolicy | None = None,
    ) -> None:
        from copass_router._context_window import check_overflow
        from copass_router._reasoning import check_policy
        from copass_router._settings import env_flag, env_int
        from copass_router.accounting._budgets import Budgets, budgets_from_env
        from copass_router.accounting._metering import ModelCallMeter
        from copass_router.content._blobs import PartPolicy
        from copass_router.coordination import SigningKeys
        from copass_router.integrations.config import (
            MCPServer,
            server_from_dict,
            servers_from_environ,
        )
        from copass_router.plugin_host._plugins import PluginHost
        from copass_router.provider_kit._retries import RetryPolicy
        from copass_router.run._dispatch_route import DispatchRoute
        from copass_router.run._failover_policy import FailoverPolicy
        from copass_router.run._live_runs import LiveRuns
        from copass_router.run._message_parts import MessageParts
        from copass_router.tools._approvals import Approvals
        from copass_router.tools._tools import as_tool

        self.environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
        self.continue_latest_session = (
            env_flag(self.environ, "COPASS_ROUTER_CONTINUE_LATEST_SESSION", False)
            if continue_latest_session is None
            else continue_latest_session
        )
        self.plugins = PluginHost(
            plugins=plugins,
            load_entry_points=load_entry_points,
            strict=strict_plugins,
            environ=self.environ,
        )
        self._store_arg = store
        self._store: SessionStore | None = None
        self._extra_tools = [as_tool(t) for t in tools]
        self._tool_timeout = tool_timeout
        self.turn_timeout = turn_timeout
        self._coordinator_arg = coordinator
        self._coordinator: Coordinator | None = None
        self.dispatch_url = dispatch_url or self.environ.get("COPASS_ROUTER_DISPATCH_URL")
        self.max_message_chars = max_message_chars
        self.retry_policy = retry_policy or RetryPolicy(
            max_retries=env_int(self.environ, "COPASS_ROUTER_MAX_RETRIES", 2, maximum=10)
        )
        self._provider_settings = {k: dict(v) for k, v in (provider_settings or {}).items()}
        self._backends: dict[str, AgentBackend] = {}
        self._backend_lock = asyncio.Lock()
        self._dispatcher: ToolDispatcher | None = None
        self._live = LiveRuns()
        #: The operator's approval policy and the calls waiting for a decision.
        self.approvals = Approvals.configured(
            self.environ, require_approval, approval_handler, approval_timeout
        )
        self._route = DispatchRoute(
            self._live,
            lambda: self.coordinator,
            SigningKeys.configured(dispatch_secret, self.environ),
            tool_timeout + self.approvals.timeout + 30,  # a call may wait for approval first
        )
        self.failover = failover or FailoverPolicy()
        self._ledger_arg = ledger
        self._ledger: UsageLedger | None = None
        #: The budgets runs are held to; ``router.budgets.set(Budget(...))`` changes them.
        self.budgets = Budgets([*budgets_from_env(self.environ), *budgets])
        self.meter = ModelCallMeter(
            lambda: self.plugins.prices, lambda: self.ledger, self.budgets, self.environ
        )
        servers = [*servers_from_environ(self.environ)]
        servers += [s if isinstance(s, MCPServer) else server_from_dict(s) for s in mcp_servers]
        self._mcp: MCPCatalog | None = None
        if servers:  # the catalog's machinery is imported only by a router that has servers
            from copass_router.integrations.catalog import MCPCatalog

            self._mcp = MCPCatalog(servers, self.environ)
        self.reasoning_portability = check_policy(reasoning_portability, self.environ)
        self.context_overflow = check_overflow(context_overflow, self.environ)
        self.parts = MessageParts(part_policy or PartPolicy.from_environ(self.environ))

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every backend, and the store, ledger and coordinator this router opened
        (those passed in as objects are the caller's to close)."""
        await self._close(loop_bound_only=False)

    # -- running -----------------------------------------------------------------------------

    def run(self, request: RunRequest | None = None, /, **fields: Any) -> AsyncGenerator[Event]:
        """Run one turn and stream its events: ``RunStarted`` first, ``RunFinished`` last.

        Takes a :class:`RunRequest` or its fields as keywords (``provider``, ``model``,
        ``message``, ``system``, ``end_user_id``, ``session_id``, ``tools``, ``fallbacks``...).
        Invalid requests, and runs a spent budget covers, raise before anything starts. To stop
        early, break out of the loop (or close the generator with ``contextlib.aclosing``): the
        provider's turn is cancelled.
        """
        from copass_router.run._requests import build_request

        declared = self.plugins.field_owners()
        return self._run(build_request(request, fields, self.max_message_chars, declared))

    async def complete(self, request: RunRequest | None = None, /, **fields: Any) -> RunResult:
        """Run one turn to the end and collect it into a :class:`RunResult` (its ``output``
        an instance of the class given as ``output_schema``, if one was)."""
        from copass_router.run._results import as_instance, collect

        result = await collect(self.run(request, **fields))
        return as_instance(result, fields.get("output_schema"))

    def run_sync(self, request: RunRequest | None = None, /, **fields: Any) -> RunResult:
        """:meth:`complete` for scripts without an event loop.

        Each call runs in an event loop of its own; what cannot outlive that loop (provider
        clients, a coordinator or a network store the router opened) is closed after it. The
        router stays usable, and a store passed in, or an SQLite store (``:memory:`` too),
        keeps its sessions from one call to the next.
        """

        async def main() -> RunResult:
            try:
                return await self.complete(request, **fields)
            finally:
                await self._close(loop_bound_only=True)

        return asyncio.run(main())

    async def _run(self, request: RunRequest) -> AsyncGenerator[Event]:
        # One generator from the checks to RunFinished: every event passes one layer less.
        from copass_router._events import RunFinished, RunStarted
        from copass_router._types import StopReason
        from copass_router.accounting._metering import RunCost
        from copass_router.integrations.selection import keep_selection
        from copass_router.run._failover import TurnDriver
        from copass_router.run._run_turns import RunTurns
        from copass_router.store._lease import LeaseKeeper

        if request.session_id is None and self.continue_latest_session:
            request = await self._latest_session(request)
        cost = RunCost()
        targets, start, dispatcher, keys, prepared = await self._begin(request, cost)
        request, store = targets[0].request, self.parts.view(self.store, start)  # parts fetched
        sid, started = start.session.session_id, start.turn
        model, run_id = targets[0].model, started.run_id
        timeout = request.timeout or self.turn_timeout
        new_turn = RunTurns(
            request=request,
            run_id=run_id,
            session_id=sid,
            index=started.index,
            dispatcher=dispatcher,
            keys=keys,
            timeout=timeout,
            cost=cost,
            budgeted=self.meter.covers(request),
            worker_id=self.coordinator.worker_id,
            dispatch_url=self.dispatch_url,
            retry_policy=self.retry_policy,
            live=self._live,
            load_turns=store.load_turns,
            reasoning_portability=self.reasoning_portability,
            context_overflow=self.context_overflow,
            compact=self.plugins.compact_hook(),
            prepared=prepared,
        )

        driver = TurnDriver(
            targets=targets,
            meter=lambda target: self.meter.attempt(target.model, cost),
            may_fail_over=lambda: not cost.over_budget,  # another provider: another call
            policy=self.failover,
            new_turn=new_turn,
            store=store,
            session_id=sid,
            started=started,
            middleware=self.plugins.middleware(),
            timeout=timeout,
        )
        await driver.start(start.history, start.binding)
        outcome = StopReason.CANCELLED  # until the stream ends on its own
        lease = LeaseKeeper(self.store, start)
        lease.start()
        left = True  # the consumer stopped reading (or the turn raised) before the end
        try:
            yield await driver.bookend(
                RunStarted(session_id=sid, provider=request.provider, model=model)
            )
            async with contextlib.aclosing(driver.events()) as stream:
                async for event in stream:
                    yield event
            outcome = driver.turn.stop_requested or driver.turn.stop_reason
            left = False
        finally:
            self._live.remove(run_id)
            await driver.aclose()
            if prepared is not None:  # still running: no turn awaits it any more
                await prepared.cancel()
            await lease.stop()
            record = driver.finish(outcome)
            try:
                await store_turn(store, start, record, driver.turn, driver.had_binding)
                await keep_selection(store, sid, request)  # later runs of the session use it
            finally:
                await cost.settled()  # the usage ledger's writes, begun as the calls ended
            finished = RunFinished(
                stop_reason=outcome,
                usage=record.usage,
                session_id=sid,
                provider=record.provider,
                model=record.model,
                cost_usd=cost.cost_usd,
            )
            if left:  # nobody reads it, but middleware (a tracer) still sees the run end
                await driver.bookend(finished)
        yield await driver.bookend(finished)

    def cancel(self, run_id: str, reason: Error | None = None) -> bool:
        """Cancel a run in flight here as breaking out of its stream does, but let the stream
        end: ``reason`` (if given), then ``RunFinished(cancelled)``. False: no such run."""
        return self._live.cancel(run_id, reason)
