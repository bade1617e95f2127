"""Router: validate -> pick backend -> run the turn -> middleware -> record the transcript."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

import attrs

from .backend import AgentBackend, BackendContext, ResourceCache, Turn
from .errors import (
    InvalidRequestError,
    SessionNotFoundError,
    UnknownProviderError,
)
from .events import Error, Event, RunFinished, RunStarted, ToolResult
from .live_runs import LiveRuns
from .logs import get_logger, scrub
from .plugins import PluginHost
from .requests import MAX_MESSAGE_CHARS, build_request, check_for_backend, check_id
from .results import RunResult, collect
from .retries import RetryPolicy
from .run_loop import TurnRunner
from .settings import env_int
from .store import SessionStore, default_store_url, open_store
from .store.base import TurnStart
from .store.lease import LeaseKeeper
from .tokens import mint_token, verify_token
from .tools import Tool, ToolContext, ToolDispatcher, as_tool
from .types import (
    RunRequest,
    SessionInfo,
    StopReason,
    TranscriptTurn,
    TurnStatus,
)

log = get_logger("copass_router.router")


@attrs.frozen
class ProviderInfo:
    """An installed provider: its name, the plugin that gave it, and that plugin's version."""

    name: str
    plugin: str
    version: str | None
    description: str = ""


class Router:
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
    :param dispatch_secret: key for run-scoped dispatch tokens (random per router if None).
    :param dispatch_url: where deployed agents reach this router's dispatch endpoint.
    :param max_message_chars: longer messages are refused (``PayloadTooLargeError``).
    :param backend_options: per provider, settings handed to its backend factory as
        ``BackendContext.options`` (e.g. ``{"anthropic": {"permission_policy": fn}}``).
    :param retry_policy: how retryable provider errors before any output are retried
        (default: ``COPASS_ROUTER_MAX_RETRIES`` or two retries with jittered backoff;
        ``RetryPolicy(max_retries=0)``: none).
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
        backend_options: Mapping[str, Mapping[str, Any]] | None = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
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
        secret = dispatch_secret or self.environ.get("COPASS_ROUTER_DISPATCH_SECRET")
        self._secret = (
            secret.encode() if isinstance(secret, str) else (secret or secrets.token_bytes(32))
        )
        self.dispatch_url = dispatch_url or self.environ.get("COPASS_ROUTER_DISPATCH_URL")
        self.max_message_chars = max_message_chars
        self.retry_policy = retry_policy or RetryPolicy(
            max_retries=env_int(self.environ, "COPASS_ROUTER_MAX_RETRIES", 2, maximum=10)
        )
        self._backend_options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self._backends: dict[str, AgentBackend] = {}
        self._backend_lock = asyncio.Lock()
        self._dispatcher: ToolDispatcher | None = None
        self._live = LiveRuns()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every backend and the store."""
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        if self._store is not None:
            await self._store.close()
            self._store = None

    @property
    def store(self) -> SessionStore:
        """The session store (opened on first use)."""
        if self._store is None:
            arg = self._store_arg
            if arg is None or isinstance(arg, str):
                self.plugins.load()
                self._store = open_store(
                    arg or default_store_url(self.environ), self.plugins.stores
                )
            else:
                self._store = arg
        return self._store

    # -- discovery ---------------------------------------------------------------------------

    def providers(self) -> list[ProviderInfo]:
        """Every installed provider with the plugin and version that gave it."""
        self.plugins.load()
        return [
            ProviderInfo(r.name, r.plugin, r.version, r.description)
            for r in sorted(self.plugins.backends.values(), key=lambda r: r.name)
        ]

    async def backend(self, provider: str) -> AgentBackend:
        """The backend for ``provider``, built on first use."""
        backend = self._backends.get(provider)
        if backend is not None:
            return backend
        self.plugins.load()
        registration = self.plugins.backends.get(provider)
        if registration is None:
            raise UnknownProviderError(provider, self.plugins.backends)
        async with self._backend_lock:
            if provider not in self._backends:
                factory = registration.load_factory()
                context = BackendContext(
                    provider=provider,
                    resources=ResourceCache(self.store, provider),
                    environ=self.environ,
                    dispatch_url=self.dispatch_url,
                    options=self._backend_options.get(provider, {}),
                )
                self._backends[provider] = factory(context)
        return self._backends[provider]

    def _base_dispatcher(self) -> ToolDispatcher:
        if self._dispatcher is None:
            self.plugins.load()
            tools = dict(self.plugins.tools)
            tools.update({t.name: t for t in self._extra_tools})
            self._dispatcher = ToolDispatcher(
                tools, self.plugins.dispatch_hook(), self._tool_timeout
            )
        return self._dispatcher

    # -- running -----------------------------------------------------------------------------

    def run(self, request: RunRequest | None = None, /, **fields: Any) -> AsyncGenerator[Event]:
        """Run one turn and stream its events: ``RunStarted`` first, ``RunFinished`` last.

        Takes a :class:`RunRequest` or its fields as keywords (``provider``, ``model``,
        ``message``, ``system``, ``end_user_id``, ``session_id``, ``tools``, ...). Invalid
        requests raise before anything starts. To stop early, break out of the loop (or close
        the generator with ``contextlib.aclosing``): the provider's turn is cancelled.
        """
        return self._run(build_request(request, fields, self.max_message_chars))

    async def complete(self, request: RunRequest | None = None, /, **fields: Any) -> RunResult:
        """Run one turn to the end and collect it into a :class:`RunResult`."""
        return await collect(self.run(request, **fields))

    def run_sync(self, request: RunRequest | None = None, /, **fields: Any) -> RunResult:
        """:meth:`complete` for scripts without an event loop."""

        async def main() -> RunResult:
            try:
                return await self.complete(request, **fields)
            finally:
                await self.aclose()

        return asyncio.run(main())

    async def _run(self, request: RunRequest) -> AsyncGenerator[Event]:
        backend = await self.backend(request.provider)
        check_for_backend(request, backend, self.plugins.fields_in_use())
        backend.validate(request)
        model = await backend.resolve_model(request)
        if not model:
            raise InvalidRequestError(
                f"provider {request.provider!r} needs a model; pass model=...", field="model"
            )
        dispatcher = self._base_dispatcher().with_tools(as_tool(t) for t in request.tools)
        # One store call claims the session (SessionBusyError in any process while another
        # turn holds it), records this turn and reads what the provider has not seen.
        start = await self.store.begin_turn(
            session_id=request.session_id,
            end_user_id=request.end_user_id,
            run_id=f"run_{uuid.uuid4().hex}",
            provider=request.provider,
            model=model,
            user=request.message,
            with_binding=backend.keeps_native_session,
        )
        turn = self._turn(request, backend, model, start, dispatcher)
        async with contextlib.aclosing(turn) as events:
            async for event in events:
                yield event

    async def _turn(
        self,
        request: RunRequest,
        backend: AgentBackend,
        model: str,
        start: TurnStart,
        dispatcher: ToolDispatcher,
    ) -> AsyncGenerator[Event]:
        sid, started, binding = start.session.session_id, start.turn, start.binding
        run_id = started.run_id
        context = ToolContext(
            run_id, sid, request.end_user_id, request.provider, model, dict(request.metadata)
        )
        timeout = request.timeout or self.turn_timeout
        turn = Turn(
            request=request,
            run_id=run_id,
            session_id=sid,
            model=model,
            history=start.history,
            binding=binding,
            tools=dispatcher.specs,
            dispatch=lambda _turn, calls: dispatcher.run(calls, context),
            load_history=lambda: self._earlier_turns(sid, started.index),
            dispatch_token=mint_token(
                self._secret,
                run_id=run_id,
                session_id=sid,
                end_user_id=request.end_user_id,
                tools=dispatcher.names(),
                ttl=(timeout or 3600) + 60,
            ),
            dispatch_url=self.dispatch_url,
            retry_policy=self.retry_policy,
        )
        self._live.add(turn, dispatcher, context)
        runner = TurnRunner(turn, backend, context, self.plugins.middleware(), timeout)
        outcome = StopReason.CANCELLED  # until the stream ends on its own
        lease = LeaseKeeper(self.store, start)
        lease.start()
        left = True  # the consumer stopped reading (or the turn raised) before the end
        try:
            yield await runner.bookend(
                RunStarted(session_id=sid, provider=request.provider, model=model)
            )
            async with contextlib.aclosing(runner.events()) as stream:
                async for event in stream:
                    yield event
            outcome = turn.stop_requested or turn.stop_reason
            left = False
        finally:
            self._live.remove(run_id)
            await runner.aclose()
            await lease.stop()
            record = runner.recorder.finish(started, outcome)
            await self._record(start, record, turn)
            finished = RunFinished(stop_reason=outcome, usage=record.usage, session_id=sid)
            if left:  # nobody reads it, but middleware (a tracer) still sees the run end
                await runner.bookend(finished)
        yield await runner.bookend(finished)

    def cancel(self, run_id: str, reason: Error | None = None) -> bool:
        """Cancel a run of this router from outside its stream (a hosted run's cancel endpoint).

        The provider's turn is cancelled and the turn recorded as cancelled, as when the
        consumer breaks out, but the stream goes on to its end: ``reason`` (when given), then
        ``RunFinished(cancelled)``. False when no run with this id is in flight here.
        """
        return self._live.cancel(run_id, reason)

    async def _earlier_turns(self, sid: str, before: int) -> list[TranscriptTurn]:
        return [t for t in await self.store.load_turns(sid) if t.index < before]

    async def _record(self, start: TurnStart, record: TranscriptTurn, turn: Turn) -> None:
        """One store call: the final turn, the binding it leaves, the session released."""
        synced = record.index + 1
        binding = None
        if turn.new_binding is not None:
            binding = (turn.provider, attrs.evolve(turn.new_binding, synced_turns=synced))
        elif (
            start.binding is not None
            and turn.binding is not None
            and record.status is TurnStatus.COMPLETED
        ):
            binding = (turn.provider, attrs.evolve(turn.binding, synced_turns=synced))
        sid = start.session.session_id
        # What cannot be encoded (a value nested too deep) is dropped, never the release of
        # the session: without the binding, then without what the turn produced.
        bare = attrs.evolve(record, items=(), status=TurnStatus.FAILED, provider_data={})
        for final, bound in ((record, binding), (record, None), (bare, None)):
            try:
                kept = await self.store.finish_turn(sid, final, start.lease, bound)
                break
            except (RecursionError, ValueError, TypeError) as exc:
                log.error("turn_record_unencodable", session_id=sid, error=type(exc).__name__)
        else:
            return
        if not kept:
            # The claim lapsed (a stall longer than the lease) and another turn took the
            # session, or the session was deleted: a late write must not clobber either.
            log.warning("turn_record_refused", session_id=sid, run_id=record.run_id)

    # -- sessions ----------------------------------------------------------------------------

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo:
        """A session of ``end_user_id``; :class:`SessionNotFoundError` for anyone else's."""
        check_id(session_id, "session_id")
        check_id(end_user_id, "end_user_id")
        info = await self.store.get_session(session_id, end_user_id)
        if info is None:
            raise SessionNotFoundError(session_id)
        return info

    async def transcript(self, session_id: str, end_user_id: str) -> list[TranscriptTurn]:
        """Every turn of a session of ``end_user_id``."""
        await self.get_session(session_id, end_user_id)
        return await self.store.load_turns(session_id)

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        """Recent sessions, newest first (every end user's when ``end_user_id`` is None)."""
        if end_user_id is not None:
            check_id(end_user_id, "end_user_id")
        return await self.store.list_sessions(end_user_id, limit)

    async def delete_session(self, session_id: str, end_user_id: str) -> None:
        """Delete a session of ``end_user_id``, its transcript, and (best effort, through each
        backend's ``delete_native_session``) the provider-side sessions it is bound to."""
        check_id(session_id, "session_id")
        check_id(end_user_id, "end_user_id")
        if await self.store.get_session(session_id, end_user_id) is None:
            raise SessionNotFoundError(session_id)
        self.plugins.load()
        bindings = {}
        for provider in self.plugins.backends:
            binding = await self.store.get_binding(session_id, provider)
            if binding is not None:
                bindings[provider] = binding
        # The store refuses a session whose turn is running (SessionBusyError), in any process.
        if not await self.store.delete_session(session_id, end_user_id):
            raise SessionNotFoundError(session_id)
        for provider, binding in bindings.items():
            try:
                backend = await self.backend(provider)
                await backend.delete_native_session(binding)
            except Exception as exc:  # the router session is gone either way
                log.warning(
                    "native_session_not_deleted",
                    provider=provider,
                    session_id=session_id,
                    error=scrub(repr(exc)),
                )

    # -- the dispatch callback ---------------------------------------------------------------

    async def handle_dispatch(
        self,
        token: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        call_id: str,
        round_id: str | None = None,
    ) -> ToolResult:
        """Run a tool for a deployed agent calling back with its run-scoped token.

        The call goes through the run's own dispatcher and shows up in the run's event stream
        under the real tool name. A repeated ``call_id`` gets the first call's result without
        running the tool again; the same id with other arguments is refused. Raises
        :class:`DispatchAuthError` for a bad token, a finished run or a tool not allowed.

        Calls count against the run's ``max_tool_rounds``: calls with the same ``round_id`` (the
        model response that asked for them) form one round, a call without one is a round of its
        own. A call past the cap is not run: it gets an ``is_error`` result, and the turn ends
        with stop reason ``tool_limit`` (the dispatch endpoint answers ``end_turn: true``).
        """
        return await self._live.dispatch(
            verify_token(self._secret, token), tool_name, arguments, call_id, round_id
        )

    async def start_dispatch_server(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """Serve only the dispatch callback endpoint, in the background, for hosts that do not
        run the full hosted service. Sets :attr:`dispatch_url`; returns the running server
        (``.url``, ``await .aclose()``). Needs the ``server`` extra."""
        from .server.standalone import start_dispatch_server

        server = await start_dispatch_server(self, host, port)
        self.dispatch_url = server.url
        return server
