"""The ``anthropic`` backend: runs a turn on Claude Managed Agents through the anthropic SDK.

Settings come from the router's environment: ``ANTHROPIC_API_KEY`` (required),
``ANTHROPIC_BASE_URL`` (e.g. the emulator), ``ANTHROPIC_MAX_RETRIES`` (SDK retries, default 0:
the core retries),
``COPASS_ANTHROPIC_CREATE_LIMIT`` / ``COPASS_ANTHROPIC_CREATE_PERIOD`` (create pacing, default 60
per 60 s) and ``COPASS_ANTHROPIC_TOOL_PERMISSION`` (``allow`` or ``deny`` for built-in tools
that ask). Host settings (``Router(provider_settings={"anthropic": {...}})``):
``permission_policy`` and ``mcp_servers`` (Anthropic's MCP connector: URL servers the operator
allows). Per-run ``options``: ``agent_toolset`` (True or the toolset's config), ``mcp_servers``
(names of the operator's connector servers; each gets an ``mcp_toolset``: a run never gives a
URL), ``environment`` (the environment config) and ``tool_permission`` (``deny`` makes a run
stricter; ``allow`` never overrides the operator's policy).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, ClassVar, cast

import anthropic
import httpx2

from copass_router import (
    PROVIDER_SDK_RETRIES,
    AgentBackend,
    BackendContext,
    Binding,
    ConfigurationError,
    CreatePacer,
    Event,
    PartSupport,
    ProviderResources,
    RequestOption,
    RunRequest,
    ToolSpec,
    TranscriptTurn,
    Turn,
    env_float,
    env_int,
    event_stream_client,
    get_logger,
    shared_tls_context,
)

from .history import user_message
from .new_sessions import NewSession, create_session, start_session
from .options import (
    MISSING_KEY,
    OPTIONS,
    check_options,
    connector_servers,
    fixed_policy,
)
from .parts import ANTHROPIC_PARTS
from .resource_api import AnthropicResourceApi
from .resources import (
    DEFAULT_ENVIRONMENT,
    AgentSpec,
    EnvironmentSpec,
    ResourceManager,
    Resources,
)
from .sdk_errors import provider_error
from .turn_driver import PermissionPolicy, SessionTurnDriver, ToolPermission, allow_all

__all__ = ["AnthropicBackend", "PermissionPolicy", "ToolPermission", "make_backend"]

log = get_logger("copass_router_anthropic.backend")

#: What :meth:`AnthropicBackend.prepare_turn` gives the turn: the agent's and environment's
#: specs, and their resources or the provider's refusal to make them.
Prepared = tuple[AgentSpec, EnvironmentSpec, "Resources | anthropic.APIError"]


class AnthropicBackend(AgentBackend):
    """Claude Managed Agents: an agent and environment per configuration, a session per
    router session, the run's tools answered through the router's dispatcher.

    :param permission_policy: decides built-in / MCP tool calls whose permission is ``ask``
        (default: allow; see :class:`~copass_router_anthropic.turn_driver.ToolPermission`).
    :param client: an ``anthropic.AsyncAnthropic`` to use instead of one built from settings.
    """

    request_options: ClassVar[Mapping[str, RequestOption]] = OPTIONS
    part_support: ClassVar[Mapping[str, PartSupport]] = ANTHROPIC_PARTS

    default_model = "claude-sonnet-4-6"
    models = (
        "claude-opus-4-7",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "claude-opus-4-5",
        "claude-sonnet-4-5",
    )
    keeps_native_session = True
    #: Claude's context windows, in tokens (what a turn injects must fit them).
    context_windows = {
        "claude-opus-4-7": 200_000,
        "claude-sonnet-4-6": 200_000,
        "claude-haiku-4-5": 200_000,
        "claude-opus-4-5": 200_000,
        "claude-sonnet-4-5": 200_000,
    }

    def __init__(
        self,
        context: BackendContext,
        *,
        permission_policy: PermissionPolicy | None = None,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        env = context.environ
        self._api_key = env.get("ANTHROPIC_API_KEY") or None
        self._base_url = env.get("ANTHROPIC_BASE_URL") or None
        # The core retries what is retryable (RetryPolicy); the SDK's own retries are off
        # unless asked for.
        self._max_retries = env_int(env, "ANTHROPIC_MAX_RETRIES", PROVIDER_SDK_RETRIES)
        self._client_obj = client
        verdict = env.get("COPASS_ANTHROPIC_TOOL_PERMISSION", "allow").strip().lower()
        self._permission = (
            permission_policy
            or context.settings.get("permission_policy")
            or (allow_all if verdict == "allow" else fixed_policy("deny"))
        )
        #: Anthropic MCP connector servers the operator allows, by name.
        self.connector_servers = connector_servers(context.settings.get("mcp_servers"))
        # A run may make the operator's policy stricter ("deny"), never looser.
        self._allows_all = self._permission is allow_all
        pacer = CreatePacer(
            env_int(env, "COPASS_ANTHROPIC_CREATE_LIMIT", 60, minimum=1),
            env_float(env, "COPASS_ANTHROPIC_CREATE_PERIOD", 60.0),
            context.coordinator,
            name="anthropic:creates",
        )
        # Agents and environments unused this long are archived (0: never), checked at most
        # once per sweep interval, in the background.
        self.sweeper = ProviderResources(
            AnthropicResourceApi(self._client),
            context.resources,
            provider="anthropic",
            pacer=pacer,
            coordinator=context.coordinator,
            idle_after=env_float(env, "COPASS_ANTHROPIC_ARCHIVE_AFTER", 30 * 86400.0),
            sweep_interval=env_float(env, "COPASS_ANTHROPIC_SWEEP_INTERVAL", 3600.0),
        )
        self.resources = ResourceManager(self._client, self.sweeper)

    # --- setup -----------------------------------------------------------------------------

    def _client(self) -> anthropic.AsyncAnthropic:
        if self._client_obj is None:
            if not self._api_key:
                raise ConfigurationError(MISSING_KEY)
            client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self._base_url,
                max_retries=self._max_retries,
                http_client=anthropic.DefaultAsyncHttpxClient(verify=shared_tls_context()),
            )
            # Its requests go through the core's event_stream_client (a stream's body read a
            # socket read at a time, a connection kept once a response is read to its end);
            # where a proxy applies there is none, and the SDK's pooled client sends them.
            http_client = event_stream_client(
                httpx2, str(client.base_url), ssl_context=shared_tls_context()
            )
            self._client_obj = (
                client if http_client is None else client.copy(http_client=http_client)
            )
        return self._client_obj

    def validate(self, request: RunRequest) -> None:
        """Reject what this backend cannot run, before any request is made."""
        check_options(request.options, self.connector_servers, allows_all=self._allows_all)
        if self._client_obj is None and not self._api_key:
            raise ConfigurationError(MISSING_KEY)

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()
            self._client_obj = None

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete the Anthropic session of a deleted router session (already gone is fine)."""
        try:
            await self._client().beta.sessions.delete(binding.native_id)
        except anthropic.NotFoundError:
            return
        except anthropic.APIError as exc:
            raise provider_error(exc, "delete the session", secret=self._api_key) from None

    # --- a turn ----------------------------------------------------------------------------

    def prepare_turn(
        self, request: RunRequest, model: str, tools: Sequence[ToolSpec]
    ) -> Awaitable[Prepared]:
        """The agent and environment the turn runs on, found or created while the store
        claims the session (neither costs anything; an unused one is reused or swept)."""
        agent, environment = self._specs(model, request.system, tools, request.options)
        return self._prepare(agent, environment)

    async def _prepare(self, agent: AgentSpec, environment: EnvironmentSpec) -> Prepared:
        await self._client_built()
        try:
            made: Resources | anthropic.APIError = await self.resources.ensure(agent, environment)
        except anthropic.APIError as exc:  # the turn's failure, if the turn runs on these specs
            made = exc
        return agent, environment, made

    def prepare_session(
        self,
        request: RunRequest,
        model: str,
        tools: Sequence[ToolSpec],
        prepared: Awaitable[Any] | None,
    ) -> Awaitable[NewSession | None] | None:
        """The Anthropic session of a new router session, created while the store makes that
        one, on the agent and environment :meth:`prepare_turn` finds (None: it could not)."""
        if prepared is None:
            return None
        return self._new_session(request, prepared)

    async def _new_session(
        self, request: RunRequest, prepared: Awaitable[Prepared]
    ) -> NewSession | None:
        agent, environment, made = await prepared  # for the same request
        if isinstance(made, anthropic.APIError):
            return None  # the turn reports it
        session_id = str(request.session_id)  # the id the store gives the new session
        return await start_session(
            self._client(),
            self.resources,
            session_id,
            request.end_user_id,
            made,
            agent,
            environment,
        )

    async def discard_session(self, made: NewSession | None) -> None:
        """Close and delete the session :meth:`prepare_session` made for a run that did not
        start (or for another configuration than its turn's)."""
        if made is not None:
            await made.close()
            await self.delete_native_session(Binding(made.session_id, 0, {}))

    def _specs(
        self,
        model: str,
        system: str | None,
        tools: Sequence[ToolSpec],
        options: Mapping[str, Any],
    ) -> tuple[AgentSpec, EnvironmentSpec]:
        servers = [self.connector_servers[n] for n in options.get("mcp_servers") or ()]
        agent = AgentSpec.for_run(model, system, tools, options, servers)
        return agent, EnvironmentSpec(options.get("environment") or DEFAULT_ENVIRONMENT)

    async def _client_built(self) -> None:
        if self._client_obj is None and self._api_key:
            # Building the SDK client loads TLS certificates: not on the event loop.
            await asyncio.to_thread(self._client)

    async def _resources(
        self, turn: Turn, agent: AgentSpec, environment: EnvironmentSpec
    ) -> Resources:
        """What :meth:`prepare_turn` found for these specs, else found now."""
        prepared, turn.prepared = turn.prepared, None
        if prepared is not None:
            ready_agent, ready_environment, made = await prepared
            same = (ready_agent.fingerprint, ready_environment.fingerprint)
            if same == (agent.fingerprint, environment.fingerprint):
                if isinstance(made, anthropic.APIError):
                    raise made
                return cast(Resources, made)
        return await self.resources.ensure(agent, environment)

    async def _prepared_session(self, turn: Turn, resources: Resources) -> Resources:
        """Take the session :meth:`prepare_session` made, if any, for this turn (and its
        retries): the resources it runs on, which replace the stale ones it found gone."""
        pending, turn.prepared_session = turn.prepared_session, None
        made: NewSession | None = await pending if pending is not None else None
        if made is None:
            return resources
        if made.resources.fingerprint != resources.fingerprint:  # for another configuration
            await self.discard_session(made)
            return resources
        turn.state.setdefault("anthropic_session", (made.session_id, made.resources))
        turn.state["anthropic_ready"] = made  # its open stream, for the first attempt
        return made.resources

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Ensure the agent and environment, pick or start the session, and drive the turn."""
        await self._client_built()
        agent, environment = self._specs(turn.model, turn.system, turn.tools, turn.options)
        try:
            resources = await self._resources(turn, agent, environment)
            resources = await self._prepared_session(turn, resources)
            driver, missed, before, resources = await self._open(
                turn, resources, agent, environment
            )
        except anthropic.APIError as exc:
            raise provider_error(exc, "start the turn", secret=self._api_key) from None
        finally:
            ready: NewSession | None = turn.state.pop("anthropic_ready", None)
            if ready is not None:
                await ready.close()  # its stream, unless the driver took it
        data: dict[str, Any] = {
            "fingerprint": resources.fingerprint,
            "agent_id": resources.agent_id,
            "environment_id": resources.environment_id,
        }
        message = user_message(turn.message, missed, turn.parts)

        def sent() -> None:  # bound only once the session has the message: it saw this turn
            turn.bind(driver.session_id, {**data, "usage": None})

        try:
            async for event in driver.run(message, on_sent=sent):
                yield event
            extra = driver.unreported_usage(before)
            if extra is not None:
                yield extra
        except anthropic.APIError as exc:
            raise provider_error(exc, "run the turn", secret=self._api_key) from None
        finally:
            await driver.close()
        snapshot = driver.translator.session_usage if driver.done else None
        data["usage"] = dict(snapshot) if snapshot else None
        if driver.translator.session_over:
            data["fingerprint"] = None  # a dead session is never reused
        turn.bind(driver.session_id, data)

    async def _open(
        self, turn: Turn, resources: Resources, agent: AgentSpec, environment: EnvironmentSpec
    ) -> tuple[SessionTurnDriver, Sequence[TranscriptTurn], Mapping[str, Any] | None, Resources]:
        """The driver with its stream open, the turns the session missed, its usage so far
        and the resources it runs on (re-created if the cached ones were gone)."""
        client = self._client()
        policy = self._policy(turn)
        binding = turn.binding
        if binding is not None and binding.data.get("fingerprint") == resources.fingerprint:
            driver = SessionTurnDriver(client, turn, binding.native_id, policy, self._api_key)
            try:
                await driver.open()
                return driver, turn.history, binding.data.get("usage"), resources
            except anthropic.NotFoundError:
                log.info("session_gone", session_id=binding.native_id)
        missed = [t for t in await turn.full_history() if t.run_id != turn.run_id]
        created = turn.state.get("anthropic_session")
        if created is not None and created[1] == resources:
            session_id = created[0]  # made ahead, or before a request the core retries
        else:
            session_id, resources = await create_session(
                client,
                self.resources,
                turn.session_id,
                turn.end_user_id,
                resources,
                agent,
                environment,
            )
            turn.state["anthropic_session"] = (session_id, resources)
        driver = SessionTurnDriver(client, turn, session_id, policy, self._api_key)
        ready: NewSession | None = turn.state.get("anthropic_ready")
        await driver.open(ready.take_stream() if ready and ready.session_id == session_id else None)
        return driver, missed, {}, resources

    def _policy(self, turn: Turn) -> PermissionPolicy:
        # The operator's policy wins: a run may only make it stricter ("deny").
        verdict = turn.options.get("tool_permission")
        return fixed_policy("deny") if verdict == "deny" else self._permission


def make_backend(context: BackendContext) -> AnthropicBackend:
    """The factory the plugin registers: an :class:`AnthropicBackend`, with the host's
    ``permission_policy`` when ``Router(provider_settings={"anthropic": {...}})`` gives one."""
    return AnthropicBackend(context, permission_policy=context.settings.get("permission_policy"))
