"""The ``openai-agents`` backend: a turn on the OpenAI Agents API (``client.beta.agents``).

One Agents API session per router session. The run's model, system prompt (the agent's
``instructions``) and tools make the agent's configuration: its saved agent is made once per
fingerprint through the core's ``ProviderResources``; a session whose configuration changed
since its last turn is updated in place (the session keeps its own items, reasoning included).
Router tools are the agent's client-side function tools, answered by the router.

Settings come from the router's environment: ``OPENAI_API_KEY`` (required),
``COPASS_ROUTER_OPENAI_AGENTS_BASE_URL`` (else ``OPENAI_BASE_URL``; e.g. the emulator),
``COPASS_ROUTER_OPENAI_MAX_RETRIES`` (SDK retries, default ``PROVIDER_SDK_RETRIES``: the core
retries),
``COPASS_OPENAI_AGENTS_CREATE_LIMIT`` / ``_CREATE_PERIOD`` (agent creates, default 60 per 60 s),
``COPASS_OPENAI_AGENTS_DELETE_AFTER`` (seconds an unused agent is kept, default 30 days; 0:
forever) and what only the operator may enable: ``COPASS_OPENAI_AGENTS_BUILTIN_TOOLS`` (a
comma-separated list of the runtime's own tools: ``web_search``, ``tool_search``,
``computer_use``), ``COPASS_OPENAI_AGENTS_ENVIRONMENT`` (``none``, the default, or
``openai_hosted``: a hosted sandbox that runs commands) and
``COPASS_OPENAI_AGENTS_SPEND_LIMIT_CENTS`` (each session's own spending limit). Host settings
(``provider_settings={"openai-agents": {...}}``) ``builtin_tools``, ``environment`` and
``spend_limit_cents`` take precedence. A request cannot enable any of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import openai

from copass_router import (
    PROVIDER_SDK_RETRIES,
    AgentBackend,
    BackendContext,
    Binding,
    ConfigurationError,
    CreatePacer,
    Error,
    Event,
    ProviderResources,
    RunRequest,
    StopReason,
    Turn,
    env_float,
    env_int,
    get_logger,
    shared_tls_context,
)

from .agents_driver import AgentsTurnDriver
from .agents_errors import PROVIDER, api_error
from .agents_history import input_messages
from .agents_resources import AgentCache, AgentSpec, AgentsResourceApi
from .agents_translate import Translator, usage_counts
from .parts import AGENTS_PARTS
from .streams import streaming_copy

log = get_logger("copass_router_openai.agents_backend")

BUILTIN_TOOLS = frozenset({"web_search", "tool_search", "computer_use"})
ENVIRONMENTS = frozenset({"none", "openai_hosted"})


class OpenAIAgentsBackend(AgentBackend):
    """The OpenAI Agents API: a saved agent per configuration, a session per router session,
    the run's tools answered through the router's dispatcher."""

    default_model = "gpt-4.1"
    context_windows: ClassVar[Mapping[str, int]] = {"gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576}
    keeps_native_session = True
    structured_output = True  # the agent's text.format (a new session per output schema)
    part_support = AGENTS_PARTS

    def __init__(
        self, context: BackendContext, *, client: openai.AsyncOpenAI | None = None
    ) -> None:
        env, settings = context.environ, context.settings
        self._api_key = env.get("OPENAI_API_KEY") or None
        self._base_url = (
            env.get("COPASS_ROUTER_OPENAI_AGENTS_BASE_URL") or env.get("OPENAI_BASE_URL") or None
        )
        self._max_retries = env_int(env, "COPASS_ROUTER_OPENAI_MAX_RETRIES", PROVIDER_SDK_RETRIES)
        self._client_obj = client
        self.builtin_tools = _builtin_tools(
            settings.get("builtin_tools", env.get("COPASS_OPENAI_AGENTS_BUILTIN_TOOLS", ""))
        )
        self.environment = _environment(
            settings.get("environment", env.get("COPASS_OPENAI_AGENTS_ENVIRONMENT", "none"))
        )
        limit = settings.get("spend_limit_cents")
        self.spend_limit = (
            int(limit)
            if limit is not None
            else env_int(env, "COPASS_OPENAI_AGENTS_SPEND_LIMIT_CENTS", 0, minimum=0) or None
        )
        pacer = CreatePacer(
            env_int(env, "COPASS_OPENAI_AGENTS_CREATE_LIMIT", 60, minimum=1),
            env_float(env, "COPASS_OPENAI_AGENTS_CREATE_PERIOD", 60.0),
            context.coordinator,
            name=f"{PROVIDER}:creates",
        )
        self.resources = ProviderResources(
            AgentsResourceApi(self._client),
            context.resources,
            provider=PROVIDER,
            pacer=pacer,
            coordinator=context.coordinator,
            kinds=("agent",),
            idle_after=env_float(env, "COPASS_OPENAI_AGENTS_DELETE_AFTER", 30 * 86400.0),
            sweep_interval=env_float(env, "COPASS_OPENAI_AGENTS_SWEEP_INTERVAL", 3600.0),
        )
        self.agents = AgentCache(self._client, self.resources)

    # --- setup ---------------------------------------------------------------------------------

    def _client(self) -> openai.AsyncOpenAI:
        if self._client_obj is None:
            if not self._api_key:
                raise ConfigurationError(_MISSING_KEY)
            client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._base_url,
                max_retries=self._max_retries,
                http_client=openai.DefaultAsyncHttpxClient(verify=shared_tls_context()),
            )
            # Its requests go through the core's event_stream_client (see .streams); the
            # SDK's pooled client sends them where a proxy applies.
            self._client_obj = streaming_copy(client) or client
        return self._client_obj

    def validate(self, request: RunRequest) -> None:
        """Refuse a run this backend cannot make, before any request."""
        if self._client_obj is None and not self._api_key:
            raise ConfigurationError(_MISSING_KEY)

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()
            self._client_obj = None

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete the Agents API session of a deleted router session (already gone is fine)."""
        try:
            await self._client().beta.agents.sessions.delete(binding.native_id)
        except openai.NotFoundError:
            return
        except openai.APIError as exc:
            raise api_error(exc, "delete the session") from None

    # --- a turn --------------------------------------------------------------------------------

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Ensure the agent, pick or start the session, and drive the turn."""
        spec = AgentSpec.for_run(
            turn.model, turn.system, turn.tools, self.builtin_tools, turn.output_schema
        )
        try:
            agent_id = await self.agents.ensure(spec)
            driver = await self._open(turn, spec, agent_id)
        except openai.APIError as exc:
            raise api_error(exc, "start the turn") from None
        data: dict[str, Any] = {
            "fingerprint": spec.fingerprint,
            "agent_id": agent_id,
            "text": spec.text_fingerprint,
        }

        def bound(session_id: str) -> None:  # the session has the message: it saw this turn
            turn.state["openai_agents_session"] = session_id
            turn.bind(session_id, {**data, "usage": None})

        try:
            async for event in driver.run(bound):
                yield event
            if driver.translator.stop_reason is StopReason.BUDGET:
                yield _budget_error(self.spend_limit)
        except openai.APIError as exc:
            raise api_error(exc, "run the turn") from None
        finally:
            await driver.close()
        if driver.session_id is not None:
            usage = driver.translator.session_usage if driver.done else None
            turn.bind(driver.session_id, {**data, "usage": list(usage) if usage else None})

    async def _open(self, turn: Turn, spec: AgentSpec, agent_id: str) -> AgentsTurnDriver:
        """The driver with the turn's message sent: in the bound session (updated to this
        configuration if it changed), else in a new one given the missed history."""
        client = self._client()
        binding = turn.binding
        session_id = turn.state.get("openai_agents_session") or (binding and binding.native_id)
        data = binding.data if binding is not None else {}
        if session_id and data.get("text") != spec.text_fingerprint:
            # A session cannot change its text format: another output schema is a new session.
            session_id = None if not turn.state.get("openai_agents_session") else session_id
        if session_id:
            try:
                if data.get("fingerprint") != spec.fingerprint:
                    await client.beta.agents.sessions.update(session_id, agent=_override(spec))  # type: ignore[arg-type]
                base = await self._base_usage(client, session_id, data.get("usage"))
                driver = AgentsTurnDriver(client, turn, Translator(base), session_id)
                await driver.send(input_messages(turn.message, turn.history, turn.parts))
                return driver
            except openai.NotFoundError:
                log.info("session_gone", session_id=session_id)
        missed = [t for t in await turn.full_history() if t.run_id != turn.run_id]
        driver = AgentsTurnDriver(client, turn, Translator())
        for attempt in range(2):
            try:
                messages = input_messages(turn.message, missed, turn.parts)
                await driver.create(messages, **self._session(turn, agent_id))
                return driver
            except openai.NotFoundError:
                if attempt or not await self.agents.forget_if_gone(spec, agent_id):
                    raise
                agent_id = await self.agents.ensure(spec)  # the cached agent was deleted
        raise AssertionError("unreachable")

    def _session(self, turn: Turn, agent_id: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "agent_id": agent_id,
            "environment": {"type": self.environment},
            "metadata": {
                "copass_session_id": turn.session_id,
                "copass_end_user_id": turn.end_user_id,
            },
        }
        if self.spend_limit:
            fields["spend_control"] = {"limit": self.spend_limit}
        return fields

    @staticmethod
    async def _base_usage(
        client: openai.AsyncOpenAI, session_id: str, known: Sequence[int] | None
    ) -> tuple[int, int, int]:
        """The session's usage before this turn (read from it when the last turn did not say)."""
        if known is not None and len(known) == 3:
            return int(known[0]), int(known[1]), int(known[2])
        session = await client.beta.agents.sessions.retrieve(session_id)
        return usage_counts(session.usage) if session.usage is not None else (0, 0, 0)


def _override(spec: AgentSpec) -> dict[str, Any]:
    """The session's agent settings for a changed configuration (model, instructions, tools)."""
    return {"model": spec.model, "instructions": spec.instructions, "tools": list(spec.tools)}


def _builtin_tools(value: Any) -> tuple[Mapping[str, Any], ...]:
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)
    unknown = sorted({n for n in names if n} - BUILTIN_TOOLS)
    if unknown:
        raise ConfigurationError(
            f"COPASS_OPENAI_AGENTS_BUILTIN_TOOLS names unknown tools {unknown}; "
            f"the OpenAI Agents API's built-in tools are {sorted(BUILTIN_TOOLS)}"
        )
    return tuple({"type": n} for n in sorted(set(names)) if n)


def _environment(value: Any) -> str:
    if value not in ENVIRONMENTS:
        raise ConfigurationError(
            f"COPASS_OPENAI_AGENTS_ENVIRONMENT must be one of {sorted(ENVIRONMENTS)}, not {value!r}"
        )
    return str(value)


def _budget_error(limit: int | None) -> Error:
    said = f" of {limit} US cents" if limit else ""
    return Error(
        code="budget_exceeded",
        message=(
            f"the OpenAI Agents session reached its spending limit{said}; the operator can "
            "raise COPASS_OPENAI_AGENTS_SPEND_LIMIT_CENTS, or continue in a new session"
        ),
        provider=PROVIDER,
    )


_MISSING_KEY = (
    "OPENAI_API_KEY is not set: the openai-agents provider needs an OpenAI API key (or set "
    "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL to an emulator, e.g. "
    "`copass-router emulate openai-agents`, with any key)"
)


def make_backend(context: BackendContext) -> OpenAIAgentsBackend:
    """The factory the plugin registers."""
    return OpenAIAgentsBackend(context)
