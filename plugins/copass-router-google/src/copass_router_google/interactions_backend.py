"""The ``gemini-agents`` backend: a turn on Gemini's Interactions API (``google-genai``).

Each model request is one interaction, streamed (see :mod:`.interactions_turn`): the service
keeps the conversation, the next interaction names the last one as ``previous_interaction_id``,
so reasoning stays inside the chain, with the runtime that produced it. The router's tools are
offered as function tools and run in the router (the core's chat loop: calls in parallel, the
tool-round cap, retries before output).

Two runtimes: by default a *model* interaction (the run's ``model`` and ``system`` on each
request); when the operator names a base agent, a *managed agent* per configuration, made once
per fingerprint through the core's resource cache (:mod:`.interactions_agents`), whose
interactions run in the background on its remote environment.

Settings (the router's environment): ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``),
``GEMINI_BASE_URL`` (e.g. the emulator), ``COPASS_GEMINI_AGENTS_MAX_RETRIES`` (the SDK's own
retries, default 0: the core retries), ``COPASS_GEMINI_AGENTS_CREATE_LIMIT`` /
``_CREATE_PERIOD`` (agent creates, default 60 per 60 s), ``COPASS_GEMINI_AGENTS_ARCHIVE_AFTER``
(delete agents unused this long, default 30 days; 0: never). The operator's, never a run's
(``Router(provider_settings={"gemini-agents": {...}})`` or the environment variable):
``builtin_tools`` / ``COPASS_GEMINI_AGENTS_BUILTIN_TOOLS=a,b`` (``code_execution``,
``google_search``, ``url_context``), ``agent`` / ``COPASS_GEMINI_AGENTS_AGENT`` (a base agent
such as ``antigravity-preview-05-2026``) and ``environment`` (the agent's base environment).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import types as genai_types

from copass_router import (
    GENERATION_FIELDS,
    AgentBackend,
    BackendContext,
    Binding,
    ConfigurationError,
    CreatePacer,
    Event,
    GenerationSettings,
    InvalidRequestError,
    PartSupport,
    ProviderResources,
    RequestOption,
    RunRequest,
    Turn,
    env_float,
    env_int,
    normalise_schema,
    run_chat_loop,
    shared_tls_context,
)

from .interactions_agents import AgentSpec, GeminiAgentApi
from .interactions_errors import status_error
from .interactions_streams import close_streaming_copy, streaming_copy
from .interactions_translate import PROVIDER
from .interactions_turn import Chain
from .parts import INTERACTIONS_PARTS

API_VERSION = "v1beta"
BUILTIN_TOOLS = ("code_execution", "google_search", "url_context")
OPTIONS: Mapping[str, RequestOption] = {
    "top_p": RequestOption(
        (int, float),
        help="nucleus sampling",
        operator="refused when the operator runs turns on a base agent",
    ),
    "thinking_level": RequestOption(
        str,
        help="minimal, low, medium or high",
        operator="refused when the operator runs turns on a base agent",
    ),
}


class GeminiAgentsBackend(AgentBackend):
    """Gemini's Interactions API: one interaction per model request, chained per session."""

    request_options: ClassVar[Mapping[str, RequestOption]] = OPTIONS
    generation_settings: ClassVar[frozenset[str]] = frozenset(GENERATION_FIELDS)
    part_support: ClassVar[Mapping[str, PartSupport]] = INTERACTIONS_PARTS
    default_model: ClassVar[str | None] = "gemini-2.5-flash"
    keeps_native_session: ClassVar[bool] = True
    structured_output: ClassVar[bool] = True  # response_format with a JSON schema
    context_windows: ClassVar[Mapping[str, int]] = {
        "gemini-2.5-flash": 1_048_576,
        "gemini-2.5-pro": 1_048_576,
        "gemini-3.1-pro": 1_048_576,
        "gemini-3.1-flash": 1_048_576,
    }

    def __init__(self, context: BackendContext) -> None:
        env, settings = context.environ, context.settings
        self._api_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None
        self._base_url = env.get("GEMINI_BASE_URL") or None
        self._max_retries = env_int(env, "COPASS_GEMINI_AGENTS_MAX_RETRIES", 0)
        self.builtin_tools = _builtin_tools(settings, env)
        self.base_agent: str | None = (
            settings.get("agent") or env.get("COPASS_GEMINI_AGENTS_AGENT") or None
        )
        if self.base_agent is not None and not self.base_agent.startswith("antigravity"):
            raise ConfigurationError(
                f"gemini-agents cannot run router turns on base agent {self.base_agent!r}: "
                "name an antigravity agent (it takes the run's model and tools), or none"
            )
        environment = settings.get("environment")
        if environment is not None and not isinstance(environment, Mapping):
            raise ConfigurationError("the gemini-agents environment setting must be a mapping")
        self.environment: Mapping[str, Any] | None = environment
        self._client_obj: genai.Client | None = None
        self._interactions: Any = None
        #: The resource interactions are created (streamed) through: see .interactions_streams.
        self._streaming: Any = None
        pacer = CreatePacer(
            env_int(env, "COPASS_GEMINI_AGENTS_CREATE_LIMIT", 60, minimum=1),
            env_float(env, "COPASS_GEMINI_AGENTS_CREATE_PERIOD", 60.0),
            context.coordinator,
            name=f"{PROVIDER}:creates",
        )
        self.resources = ProviderResources(
            GeminiAgentApi(self.agents),
            context.resources,
            provider=PROVIDER,
            pacer=pacer,
            coordinator=context.coordinator,
            kinds=("agent",),
            idle_after=env_float(env, "COPASS_GEMINI_AGENTS_ARCHIVE_AFTER", 30 * 86400.0),
            sweep_interval=env_float(env, "COPASS_GEMINI_AGENTS_SWEEP_INTERVAL", 3600.0),
        )

    def _client(self) -> genai.Client:
        if self._client_obj is None:
            if not self._api_key:
                raise ConfigurationError(_MISSING_KEY)
            # Everything explicit: the SDK would otherwise read the process environment
            # (GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_CLOUD_PROJECT...) and may go to Vertex AI.
            tls = shared_tls_context()  # one for every HTTP client the SDK makes
            options = genai_types.HttpOptions(
                base_url=self._base_url,
                api_version=API_VERSION,
                client_args={"verify": tls},
                async_client_args={"verify": tls, "ssl": tls},
            )
            self._client_obj = genai.Client(
                vertexai=False, api_key=self._api_key, http_options=options
            )
            self._interactions = self._client_obj.aio.interactions
            # The core retries what is retryable (RetryPolicy), so the SDK's own retries are
            # off unless asked for. ``retry_options.attempts`` cannot say "none" here (this SDK
            # version turns it into at least one retry), so the retry count is set on the
            # resource's configuration.
            config = self._interactions.sdk_configuration
            retry = copy.copy(config.retry_config)
            retry.max_retries = self._max_retries
            retry.retry_connection_errors = self._max_retries > 0
            config.retry_config = retry
            self._streaming = streaming_copy(self._interactions)
        return self._client_obj

    def interactions(self) -> Any:
        """The SDK's ``client.aio.interactions`` resource."""
        self._client()
        return self._interactions

    def agents(self) -> Any:
        """The SDK's ``client.aio.agents`` resource."""
        return self._client().aio.agents

    def validate(self, request: RunRequest) -> None:
        """Refuse a run that cannot reach the API before anything is sent."""
        if self._client_obj is None and not self._api_key:
            raise ConfigurationError(_MISSING_KEY)
        given = GenerationSettings.of(request).given()
        sampling = [*given, *(k for k in OPTIONS if k in request.options)]
        if self.base_agent is not None and sampling:
            raise InvalidRequestError(
                f"gemini-agents runs this router's turns on the managed agent {self.base_agent!r}, "
                f"whose interactions take no generation config, so {sampling[0]!r} would be "
                "ignored: leave it out, or run without a base agent",
                field=sampling[0] if sampling[0] not in OPTIONS else "options",
            )
        level = request.options.get("thinking_level")
        if level is not None and level not in ("minimal", "low", "medium", "high"):
            raise InvalidRequestError(
                "option thinking_level must be minimal, low, medium or high", field="options"
            )

    async def aclose(self) -> None:
        streaming, self._streaming = self._streaming, None
        if streaming is not None:
            await close_streaming_copy(streaming)
        client, self._client_obj = self._client_obj, None
        if client is not None:
            await client.aio.aclose()

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete every interaction of the session's chain (already gone is fine)."""
        ids = list(binding.data.get("interactions") or ()) or [binding.native_id]
        api = self.interactions()
        for interaction_id in ids:
            try:
                await api.delete(interaction_id)
            except sdk_errors.NotFoundError:
                continue
            except sdk_errors.APIStatusError as exc:
                raise status_error(exc, "delete the session's interactions") from None

    # --- a turn ----------------------------------------------------------------------------

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run the turn through the core's chat loop, one interaction per model request."""
        self._check_unasked(turn)
        if self._client_obj is None and self._api_key:
            # Building the SDK's clients builds its models and TLS settings: not on the loop.
            await asyncio.to_thread(self._client)
        spec = self.agent_spec(turn)
        agent = await self._agent(spec) if spec is not None else None

        async def recover() -> bool:
            nonlocal agent
            if spec is None or agent is None:
                return False
            if not await self.resources.forget_if_gone("agent", spec.fingerprint, agent):
                return False
            agent = await self._agent(spec)
            return True

        chain = Chain(
            self.interactions(),
            turn,
            lambda: self.body(turn, agent),
            agent=agent,
            recover=recover,
            streaming=self._streaming,
        )
        try:
            async with aclosing(run_chat_loop(turn, chain.step)) as events:
                async for event in events:
                    yield event
        finally:
            await chain.abandon()
        if chain.completed is not None:
            data = {"interactions": chain.remembered(), "model": turn.model, "agent": agent}
            turn.bind(chain.completed, data)

    def _check_unasked(self, turn: Turn) -> None:
        """The runtime runs its built-in tools without a pause: one the operator's approval
        patterns name cannot be offered, and running it unasked would break the policy."""
        approvals = turn.approvals
        gated = [n for n in self.builtin_tools if approvals is not None and approvals.named(n)]
        if gated:
            raise ConfigurationError(
                f"gemini-agents runs its built-in tool {gated[0]!r} itself and cannot pause it "
                "for approval, but the approval patterns name it: remove it from builtin_tools "
                "(COPASS_GEMINI_AGENTS_BUILTIN_TOOLS) or from the approval patterns"
            )

    def agent_spec(self, turn: Turn) -> AgentSpec | None:
        """The managed agent ``turn`` runs on, when the operator named a base agent."""
        if self.base_agent is None:
            return None
        return AgentSpec(
            base_agent=self.base_agent,
            model=turn.model,
            system=turn.system,
            builtin_tools=self.builtin_tools,
            environment=self.environment,
        )

    async def _agent(self, spec: AgentSpec) -> str:
        async def create() -> dict[str, Any]:
            made = await self.agents().create(**spec.create_fields())
            return {"id": str(made.id or spec.agent_id)}

        try:
            record = await self.resources.resolve("agent", spec.fingerprint, create)
        except sdk_errors.APIStatusError as exc:
            raise status_error(exc, "create the agent") from None
        return str(record["id"])

    def body(self, turn: Turn, agent: str | None) -> dict[str, Any]:
        """The fields every interaction of ``turn`` carries besides its input and chain."""
        body: dict[str, Any] = {"stream": True, "store": True}
        if agent is not None:
            # The agent holds the model, instructions and built-in tools; its interactions run
            # in the background, on the agent's remote environment.
            body.update(agent=agent, background=True)
        else:
            body["model"] = turn.model
            if turn.system:
                body["system_instruction"] = turn.system
            config = {k: turn.options[k] for k in OPTIONS if k in turn.options}
            config.update(generation_config(turn.generation))
            if config:
                body["generation_config"] = config
        tools: list[dict[str, Any]] = [
            {
                "type": "function",
                "name": spec.name,
                "description": spec.description,
                "parameters": normalise_schema(spec.parameters, "gemini"),
            }
            for spec in turn.tools
        ]
        if agent is None:
            tools.extend({"type": name} for name in self.builtin_tools)
        if tools:
            body["tools"] = tools
        if turn.output_schema is not None:
            body["response_format"] = response_format(turn.output_schema)
        # One stable, opaque label per end user: tenants never merge, no raw user id leaves.
        digest = hashlib.sha256(turn.end_user_id.encode()).hexdigest()[:32]
        body["labels"] = {"copass_end_user": digest}
        return body


_MISSING_KEY = (
    "GEMINI_API_KEY is not set: the gemini-agents provider needs a Gemini API key "
    "(or set GEMINI_BASE_URL to an emulator, e.g. `copass-router emulate gemini-agents`, "
    "with its key)"
)


def _builtin_tools(settings: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, ...]:
    configured = settings.get("builtin_tools")
    if configured is None:
        raw = env.get("COPASS_GEMINI_AGENTS_BUILTIN_TOOLS", "")
        configured = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = sorted(set(configured) - set(BUILTIN_TOOLS))
    if unknown:
        raise ConfigurationError(
            f"unknown gemini-agents built-in tool {unknown[0]!r}; "
            f"the operator may enable {', '.join(BUILTIN_TOOLS)}"
        )
    return tuple(configured)


def make_backend(context: BackendContext) -> GeminiAgentsBackend:
    """The factory the plugin registers for ``gemini-agents``."""
    return GeminiAgentsBackend(context)


__all__ = ["PROVIDER", "GeminiAgentsBackend", "make_backend"]


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A run's ``output_schema`` as the Interactions API's ``response_format``: JSON text of
    that schema (the router validates the answer against the whole schema)."""
    return {"type": "text", "mime_type": "application/json", "schema": dict(schema)}


def generation_config(settings: GenerationSettings) -> dict[str, Any]:
    """The run's generation settings under the Interactions API's ``generation_config`` names."""
    config = {
        "temperature": settings.temperature,
        "max_output_tokens": settings.max_output_tokens,
        "stop_sequences": list(settings.stop) or None,
    }
    return {k: v for k, v in config.items() if v is not None}
