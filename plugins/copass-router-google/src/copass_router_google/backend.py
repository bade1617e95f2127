"""The ``google`` backend: runs a turn on a deployed ADK agent in Vertex AI Agent Engine.

Per turn: resolve the engine (``reasoning_engine_id``), reuse or create the end user's ADK
session, then ``async_stream_query`` with SSE streaming mode and a ``state_delta`` carrying the
run-scoped dispatch token, the run's tool catalogue and (when a tracer set it) the run's W3C
trace context. Tool calls go from the agent's
copass_dispatch back to the router's dispatch endpoint, which puts ToolCall/ToolResult into this
run's stream (``turn.merge`` shows them live).

Settings (``context.environ``): ``COPASS_ROUTER_GOOGLE_BASE_URL`` (default Google's endpoint),
``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION`` for short engine ids, credentials from
Application Default Credentials (or a static ``COPASS_ROUTER_GOOGLE_ACCESS_TOKEN``),
``COPASS_ROUTER_GOOGLE_MAX_RETRIES`` (0: the core retries) and
``COPASS_ROUTER_GOOGLE_RETRY_DELAY`` (1.0 s) for 429/5xx answers,
``COPASS_ROUTER_GOOGLE_TIMEOUT`` (seconds per request, none by default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from copass_router import (
    GENERATION_FIELDS,
    AgentBackend,
    BackendContext,
    Binding,
    ConfigurationError,
    Event,
    GenerationSettings,
    InvalidRequestError,
    PartSupport,
    ProviderError,
    RequestField,
    RequestOption,
    RouterError,
    RunRequest,
    TranscriptTurn,
    Turn,
    get_logger,
    normalise_schema,
)

from .contract import (
    GENERATION_STATE_KEY,
    MODEL_STATE_KEY,
    SYSTEM_STATE_KEY,
    TEMP_TOKEN_STATE_KEY,
    TOKEN_STATE_KEY,
    TOOLS_STATE_KEY,
    TRACE_STATE_KEY,
    EngineContract,
    contract_of,
    trace_headers,
)
from .engine_clients import EngineClients
from .engine_errors import provider_errors as _provider_errors
from .engine_ref import DEFAULT_LOCATION, EngineRef, parse_engine_ref
from .fields import ENGINE_FIELDS, ENGINE_OPTIONS
from .parts import ADK_PARTS, adk_message
from .translate import PROVIDER, AdkEventTranslator

log = get_logger(__name__)


class GoogleBackend(AgentBackend):
    """Vertex AI Agent Engine: deployed ADK agents run by ``reasoning_engine_id``."""

    request_fields: ClassVar[tuple[RequestField, ...]] = ENGINE_FIELDS
    request_options: ClassVar[Mapping[str, RequestOption]] = ENGINE_OPTIONS
    default_model: ClassVar[str | None] = "gemini-3.1-pro"
    models: ClassVar[tuple[str, ...]] = (
        "gemini-3.1-pro",
        "gemini-3.1-flash",
        "gemini-3.1-flash-lite",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    )
    keeps_native_session: ClassVar[bool] = True
    #: Gemini's context window, in tokens, for every model this provider lists.
    default_context_window: ClassVar[int | None] = 1_048_576
    generation_settings: ClassVar[frozenset[str]] = frozenset(GENERATION_FIELDS)
    part_support: ClassVar[Mapping[str, PartSupport]] = ADK_PARTS

    def __init__(self, context: BackendContext, *, credentials: Any = None) -> None:
        self.context = context
        self.environ: Mapping[str, str] = context.environ
        self.engines = EngineClients(context.environ, credentials)

    # -- validation ------------------------------------------------------------------------

    def validate(self, request: RunRequest) -> None:
        """Reject a missing or malformed engine, location or option before any request."""
        self._engine(request)

    def _engine(self, request: RunRequest) -> EngineRef:
        project = request.options.get("project")
        if project is not None and not isinstance(project, str):
            raise InvalidRequestError("options['project'] must be a string", field="options")
        return parse_engine_ref(
            request.provider_fields.get("reasoning_engine_id"),
            location=request.provider_fields.get("location"),
            project=project,
            environ=self.environ,
        )

    async def resolve_model(self, request: RunRequest) -> str | None:
        """The model the run's agent will call: the run's, else the one the engine was deployed
        with (its contract marker), else the deploy default.

        Raises :class:`InvalidRequestError` when the run passes ``system`` or ``model`` to an
        engine deployed by an older version, which would silently ignore them. An engine that
        cannot be read here is reported by the turn itself.
        """
        try:
            runtime = await self.engines.runtime(self._engine(request))
        except ConfigurationError:
            raise  # no credentials: refused before the turn starts, not inside it
        except RouterError as exc:
            log.debug("engine not readable before the turn", error=type(exc).__name__)
            return request.model or self.default_model
        contract = contract_of(runtime)
        self._check_contract(request, contract)
        return request.model or contract.model or self.default_model

    @staticmethod
    def _check_contract(request: RunRequest, contract: EngineContract) -> None:
        engine = request.provider_fields.get("reasoning_engine_id")
        given = GenerationSettings.of(request).given()
        if given and not contract.per_run_generation:
            raise InvalidRequestError(
                f"engine {engine} was deployed by an older "
                "copass-router-google whose agent does not take generation settings, so the "
                f"run's {given[0]!r} would be ignored: redeploy the agent "
                "(copass_router_google.deploy_adk_agent or `copass-router google deploy`), "
                f"or leave {given[0]!r} out",
                field=given[0],
            )
        if contract.per_run_settings:
            return
        for field in ("system", "model"):
            if getattr(request, field) is not None:
                raise InvalidRequestError(
                    f"engine {engine} was deployed by an older "
                    "copass-router-google that fixes the system prompt and model at deploy "
                    f"time, so the run's {field!r} would be ignored: redeploy the agent "
                    "(copass_router_google.deploy_adk_agent or `copass-router google deploy`), "
                    f"or leave {field!r} out to run with the deployed one",
                    field=field,
                )

    # -- the turn --------------------------------------------------------------------------

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run one turn on the deployed agent and yield its neutral events."""
        engine = self._engine(turn.request)
        runtime = await self.engines.runtime(engine)
        self._check_contract(turn.request, contract_of(runtime))
        session_id, history, reused = await self._session(turn, runtime, engine, fresh=False)
        translator = AdkEventTranslator()
        started = False
        try:
            async for event in self._stream(turn, runtime, engine, session_id, history, translator):
                started = True
                yield event
        except ProviderError as exc:
            if started or not reused or exc.status != 404:
                raise
            # The bound ADK session is gone (expired or deleted at Google): start a new one,
            # told the whole conversation, once.
            log.info("adk session gone, starting a new one", engine=engine.name)
            session_id, history, _ = await self._session(turn, runtime, engine, fresh=True)
            async for event in self._stream(turn, runtime, engine, session_id, history, translator):
                yield event
        # The router may have ended the turn (a dispatched call past max_tool_rounds): merge()
        # then closed the stream, which stopped the ADK run.
        turn.stop_reason = turn.stop_requested or translator.stop_reason

    async def _stream(
        self,
        turn: Turn,
        runtime: Any,
        engine: EngineRef,
        session_id: str,
        history: tuple[TranscriptTurn, ...],
        translator: AdkEventTranslator,
    ) -> AsyncIterator[Event]:
        stream = runtime.async_stream_query(
            message=adk_message(turn.message, turn.parts, history),
            user_id=turn.end_user_id,
            session_id=session_id,
            state_delta=self._state_delta(turn, contract_of(runtime)),
            run_config={"streaming_mode": "sse"},
        )
        async with _provider_errors(engine):
            async for item in turn.merge(stream):
                if isinstance(item, Event):
                    yield item  # ToolCall/ToolResult the dispatch endpoint emitted
                elif isinstance(item, Mapping):
                    for event in translator.feed(item):
                        yield event

    async def _session(
        self, turn: Turn, runtime: Any, engine: EngineRef, *, fresh: bool
    ) -> tuple[str, tuple[TranscriptTurn, ...], bool]:
        """The ADK session for this router session, the turns it has not seen, and whether it
        is a reused one."""
        user_id, binding = turn.end_user_id, turn.binding
        if (
            not fresh
            and binding is not None
            and binding.data.get("engine") == engine.name
            and binding.data.get("user_id") == user_id
        ):
            return binding.native_id, turn.history, True
        # First use on this engine (or the binding belongs elsewhere, or its session is gone):
        # a new ADK session for this end user, told everything said so far.
        history = turn.history if binding is None else await turn.full_history()
        async with _provider_errors(engine):
            created = await runtime.async_create_session(user_id=user_id)
        session_id = created.get("id") if isinstance(created, Mapping) else None
        if not session_id:
            raise ProviderError(
                f"engine {engine.name} created a session without an id", provider=PROVIDER
            )
        turn.bind(str(session_id), {"engine": engine.name, "user_id": user_id})
        return str(session_id), history, False

    @staticmethod
    def _state_delta(turn: Turn, contract: EngineContract) -> dict[str, Any]:
        # Session state persists across turns: system and model are sent even when None, so
        # an earlier turn's values never leak into this one. The token goes under a temp: key
        # (kept for the invocation, never stored in the session) where the agent reads one.
        token_key = TEMP_TOKEN_STATE_KEY if contract.per_run_settings else TOKEN_STATE_KEY
        delta: dict[str, Any] = {}
        trace = trace_headers(turn.trace_context)
        if trace:  # the proxy tool sends it back on its callback (the tool span's parent)
            delta[TRACE_STATE_KEY] = trace
        return {
            **delta,
            token_key: turn.dispatch_token,
            SYSTEM_STATE_KEY: turn.request.system,
            MODEL_STATE_KEY: turn.request.model,
            GENERATION_STATE_KEY: _generation_config(turn.generation),
            TOOLS_STATE_KEY: [
                {
                    "name": t.name,
                    "description": t.description,
                    # The deployed agent's Gemini model reads these: Gemini's schema subset.
                    "parameters": normalise_schema(t.parameters, "gemini"),
                }
                for t in turn.tools
            ],
        }

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete the ADK session a router session was bound to (``async_delete_session`` on
        its engine). One already gone counts as deleted; other failures raise ProviderError."""
        engine_name, user_id = binding.data.get("engine"), binding.data.get("user_id")
        if not isinstance(engine_name, str) or not isinstance(user_id, str):
            log.debug("binding names no adk session", native_id=binding.native_id)
            return
        engine = parse_engine_ref(engine_name, location=None, project=None, environ=self.environ)
        runtime = await self.engines.runtime(engine)
        if not hasattr(runtime, "async_delete_session"):
            log.info("engine cannot delete sessions", engine=engine.name)
            return
        try:
            async with _provider_errors(engine):
                await runtime.async_delete_session(user_id=user_id, session_id=binding.native_id)
        except ProviderError as exc:
            if exc.status != 404:
                raise

    async def aclose(self) -> None:
        """Close the clients' async connections (the sync ones close when collected)."""
        await self.engines.aclose()


def make_backend(context: BackendContext) -> GoogleBackend:
    """The backend factory the plugin registers."""
    return GoogleBackend(context)


__all__ = ["DEFAULT_LOCATION", "GoogleBackend", "make_backend"]


def _generation_config(settings: GenerationSettings) -> dict[str, Any] | None:
    """The run's generation settings as the agent's model config names them (None: none)."""
    config = {
        "temperature": settings.temperature,
        "max_output_tokens": settings.max_output_tokens,
        "stop_sequences": list(settings.stop) or None,
    }
    given = {k: v for k, v in config.items() if v is not None}
    return given or None
