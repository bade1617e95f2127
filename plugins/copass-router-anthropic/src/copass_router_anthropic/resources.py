"""Agents and environments, created once per fingerprint and kept in the router's store.

A run brings its own model, system prompt and tools; the API wants a pre-created agent and
environment. :class:`ResourceManager` maps the run's configuration (its fingerprint) to those,
creating each at most once however many runs arrive cold at the same moment, in this process
and (through the router's coordinator) on every worker (single-flight), pacing creates under
the API's limit (about 60 a minute, shared by all workers) by waiting, honouring a 429's
retry-after, and re-creating a cached resource the API says is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anthropic
import attrs

from copass_router import (
    Coordinator,
    ProviderError,
    ResourceCache,
    ToolSpec,
    get_logger,
    normalise_schema,
)

from .sdk_errors import provider_error, retry_after

if TYPE_CHECKING:
    from .resource_sweep import ResourceSweeper

log = get_logger("copass_router_anthropic.resources")

#: Attempts per create when the API answers 429 or 5xx.
CREATE_ATTEMPTS = 6
DEFAULT_ENVIRONMENT: Mapping[str, Any] = {"type": "cloud", "networking": {"type": "unrestricted"}}


def fingerprint(value: Any) -> str:
    """A stable hash of a JSON-able value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def custom_tool(spec: ToolSpec) -> dict[str, Any]:
    """A run's tool as a Managed Agents custom tool."""
    schema = normalise_schema(spec.parameters, "json-schema")
    return {
        "type": "custom",
        "name": spec.name,
        "description": spec.description or spec.name,
        "input_schema": schema,
    }


@attrs.frozen
class AgentSpec:
    """What defines an agent: model, system prompt, tools and toolset options."""

    model: str
    system: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    mcp_servers: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def for_run(
        cls,
        model: str,
        system: str | None,
        tools: Sequence[ToolSpec],
        options: Mapping[str, Any],
        mcp_servers: Sequence[Mapping[str, Any]] = (),
    ) -> AgentSpec:
        """The spec of a run: its tools as custom tools, plus the toolsets ``options`` ask for
        and the operator's connector servers the run selected (``mcp_servers``)."""
        declared: list[Mapping[str, Any]] = [
            custom_tool(t) for t in sorted(tools, key=lambda t: t.name)
        ]
        toolset = options.get("agent_toolset")
        if toolset:
            extra = toolset if isinstance(toolset, Mapping) else {}
            declared.append({**extra, "type": "agent_toolset_20260401"})
        servers = tuple(dict(s) for s in mcp_servers)
        for server in servers:
            declared.append({"type": "mcp_toolset", "mcp_server_name": server["name"]})
        return cls(model, system, tuple(declared), servers)

    @property
    def fingerprint(self) -> str:
        return fingerprint(attrs.asdict(self))

    def create_body(self) -> dict[str, Any]:
        fp = self.fingerprint
        body: dict[str, Any] = {
            "name": f"copass-{fp[:16]}",
            "model": self.model,
            "description": "Created by copass-router for one agent configuration",
            "tools": [dict(t) for t in self.tools],
            "metadata": {"copass_router_fingerprint": fp},
        }
        if self.system:
            body["system"] = self.system
        if self.mcp_servers:
            body["mcp_servers"] = [dict(s) for s in self.mcp_servers]
        return body


@attrs.frozen
class EnvironmentSpec:
    """What defines an environment: its config (cloud, networking, packages)."""

    config: Mapping[str, Any] = attrs.field(factory=lambda: dict(DEFAULT_ENVIRONMENT))

    @property
    def fingerprint(self) -> str:
        return fingerprint(dict(self.config))

    def create_body(self) -> dict[str, Any]:
        fp = self.fingerprint
        return {
            "name": f"copass-{fp[:16]}",
            "config": dict(self.config),
            "metadata": {"copass_router_fingerprint": fp},
        }


@attrs.frozen
class Resources:
    """The agent and environment a turn runs with; ``fingerprint`` names the pair."""

    agent_id: str
    agent_version: int
    environment_id: str
    fingerprint: str


class CreatePacer:
    """Spaces creates so at most ``limit`` start in any ``period`` seconds; waits, never fails.

    The budget lives in the router's coordinator: in this process by default, shared by every
    worker with ``COPASS_ROUTER_COORDINATOR=redis://...``, which is what keeps N workers under
    the one limit the API enforces per organisation.
    """

    def __init__(
        self,
        limit: int = 60,
        period: float = 60.0,
        coordinator: Coordinator | None = None,
        name: str = "anthropic:creates",
    ) -> None:
        self.limit = max(1, limit)
        self.period = period
        self.name = name
        self._coordinator = coordinator or Coordinator()

    async def acquire(self) -> None:
        """Wait until a create may start, and count it."""
        await self._coordinator.pace(self.name, self.limit, self.period)

    async def hold(self, seconds: float) -> None:
        """Start no create for ``seconds`` (the API said to retry after that long)."""
        await self._coordinator.hold(self.name, seconds)


class ResourceManager:
    """Finds or creates the agent and environment of a configuration."""

    def __init__(
        self,
        client: Callable[[], anthropic.AsyncAnthropic],
        cache: ResourceCache,
        pacer: CreatePacer,
        coordinator: Coordinator | None = None,
        sweeper: ResourceSweeper | None = None,
    ) -> None:
        self._client = client
        self._cache = cache
        self._pacer = pacer
        self._sweeper = sweeper
        self._coordinator = coordinator or Coordinator()
        self._inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def ensure(self, agent: AgentSpec, environment: EnvironmentSpec) -> Resources:
        """The resources for these specs, created if no run made them before."""
        agent_key, env_key = _agent_key(agent), _env_key(environment)
        agent_rec, env_rec = await asyncio.gather(
            self._resolve(agent_key, lambda: self._create_agent(agent)),
            self._resolve(env_key, lambda: self._create_environment(environment)),
        )
        if self._sweeper is not None:
            await self._sweeper.touch(agent_key, agent_rec)
            await self._sweeper.touch(env_key, env_rec)
            self._sweeper.maybe_sweep()
        return Resources(
            agent_id=agent_rec["id"],
            agent_version=int(agent_rec.get("version") or 1),
            environment_id=env_rec["id"],
            fingerprint=fingerprint([agent.fingerprint, environment.fingerprint]),
        )

    async def recover(
        self, stale: Resources, agent: AgentSpec, environment: EnvironmentSpec
    ) -> Resources | None:
        """After a 404: forget whichever cached resource the API no longer has and make it anew.

        Returns None when both still exist (the 404 was about something else).
        """
        client = self._client()
        agent_gone = await _gone(lambda: client.beta.agents.retrieve(stale.agent_id))
        env_gone = await _gone(lambda: client.beta.environments.retrieve(stale.environment_id))
        if not (agent_gone or env_gone):
            return None
        if agent_gone:
            log.info("agent_gone", agent_id=stale.agent_id)
            await self._forget(_agent_key(agent), stale.agent_id)
        if env_gone:
            log.info("environment_gone", environment_id=stale.environment_id)
            await self._forget(_env_key(environment), stale.environment_id)
        return await self.ensure(agent, environment)

    async def _forget(self, key: str, stale_id: str) -> None:
        # Only if it still names the stale resource: a concurrent run may have replaced it.
        cached = await self._cache.get(key)
        if cached is not None and cached.get("id") == stale_id:
            await self._cache.delete(key)

    async def _resolve(
        self, key: str, create: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        cached = await self._cache.get(key)
        if cached is not None:
            return cached
        future = self._inflight.get(key)
        if future is None:
            # The create runs in its own task: a run that gives up waiting does not cancel it
            # for the others waiting on the same fingerprint.
            future = asyncio.ensure_future(self._create_once(key, create))
            self._inflight[key] = future
            future.add_done_callback(lambda f: self._settle(key, f))
        return await asyncio.shield(future)

    def _settle(self, key: str, future: asyncio.Future[dict[str, Any]]) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if not future.cancelled():
            future.exception()  # retrieved here so an unwatched failure is not logged as lost

    async def _create_once(
        self, key: str, create: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        # One create per key across workers: whoever holds the lock creates; the others find
        # the record in the shared store once they get the lock.
        async with self._coordinator.lock(f"anthropic:{key}", ttl=30):
            cached = await self._cache.get(key)  # another run or worker may have stored it
            if cached is not None:
                return cached
            record = await create()
            await self._cache.put(key, record)
            return record

    async def _create_agent(self, spec: AgentSpec) -> dict[str, Any]:
        client = self._client().with_options(max_retries=0)
        agent = await self._paced("agent", lambda: client.beta.agents.create(**spec.create_body()))
        log.info("agent_created", agent_id=agent.id, fingerprint=spec.fingerprint[:16])
        return {
            "id": agent.id,
            "version": agent.version,
            "fingerprint": spec.fingerprint,
            "last_used": time.time(),
        }

    async def _create_environment(self, spec: EnvironmentSpec) -> dict[str, Any]:
        client = self._client().with_options(max_retries=0)
        body = spec.create_body()
        env = await self._paced("environment", lambda: client.beta.environments.create(**body))
        log.info("environment_created", environment_id=env.id)
        return {"id": env.id, "fingerprint": spec.fingerprint, "last_used": time.time()}

    async def _paced(self, kind: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run a create under the pacer, waiting out 429s (retry-after) and brief 5xx."""
        for attempt in range(CREATE_ATTEMPTS):
            await self._pacer.acquire()
            try:
                return await call()
            except (anthropic.RateLimitError, anthropic.InternalServerError) as exc:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise provider_error(exc, f"create {kind}") from None
                wait = retry_after(exc.response.headers, limit=max(self._pacer.period, 60.0))
                wait = wait if wait is not None else min(2.0**attempt, 30.0)
                log.info("create_retry", kind=kind, status=exc.status_code, wait=wait)
                await self._pacer.hold(wait)
            except anthropic.APIError as exc:
                raise provider_error(exc, f"create {kind}") from None
        raise ProviderError(f"could not create the {kind}", provider="anthropic")  # unreachable


def _agent_key(spec: AgentSpec) -> str:
    return f"agent:{spec.fingerprint}"


def _env_key(spec: EnvironmentSpec) -> str:
    return f"environment:{spec.fingerprint}"


async def _gone(lookup: Callable[[], Awaitable[Any]]) -> bool:
    """Whether a retrieve says the resource no longer exists (404, or archived)."""
    try:
        found = await lookup()
    except anthropic.NotFoundError:
        return True
    except anthropic.APIError as exc:
        raise provider_error(exc, "look up a cached resource") from None
    return getattr(found, "archived_at", None) is not None
