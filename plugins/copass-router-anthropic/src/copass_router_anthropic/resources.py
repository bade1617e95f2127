"""Agents and environments, created once per fingerprint and kept in the router's store.

A run brings its own model, system prompt and tools; the API wants a pre-created agent and
environment. :class:`ResourceManager` maps the run's configuration (its fingerprint) to those
through the core's :class:`~copass_router.ProviderResources` (single-flight across workers,
creates paced under the API's limit of about 60 a minute, a cached resource the API says is
gone re-created, unused ones archived).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anthropic
import attrs

from copass_router import (
    FINGERPRINT_METADATA,
    ProviderResources,
    ToolSpec,
    config_fingerprint,
    normalise_schema,
)

DEFAULT_ENVIRONMENT: Mapping[str, Any] = {"type": "cloud", "networking": {"type": "unrestricted"}}


fingerprint = config_fingerprint


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

    @functools.cached_property
    def fingerprint(self) -> str:  # read several times a turn: hashed once
        return fingerprint(attrs.asdict(self))

    def create_body(self) -> dict[str, Any]:
        fp = self.fingerprint
        body: dict[str, Any] = {
            "name": f"copass-{fp[:16]}",
            "model": self.model,
            "description": "Created by copass-router for one agent configuration",
            "tools": [dict(t) for t in self.tools],
            "metadata": {FINGERPRINT_METADATA: fp},
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

    @functools.cached_property
    def fingerprint(self) -> str:
        return fingerprint(dict(self.config))

    def create_body(self) -> dict[str, Any]:
        fp = self.fingerprint
        return {
            "name": f"copass-{fp[:16]}",
            "config": dict(self.config),
            "metadata": {FINGERPRINT_METADATA: fp},
        }


@attrs.frozen
class Resources:
    """The agent and environment a turn runs with; ``fingerprint`` names the pair."""

    agent_id: str
    agent_version: int
    environment_id: str
    fingerprint: str


class ResourceManager:
    """Finds or creates the agent and environment of a configuration (on the core's
    :class:`ProviderResources`)."""

    def __init__(self, client: Callable[[], anthropic.AsyncAnthropic], store: ProviderResources):
        self._client = client
        self.store = store
        self._no_retries: tuple[anthropic.AsyncAnthropic, anthropic.AsyncAnthropic] | None = None

    def _creator(self) -> anthropic.AsyncAnthropic:
        """The client without SDK retries (the pacer retries), made before a create's turn
        under the pacer comes, so nothing but the request runs in its slot."""
        base = self._client()
        if self._no_retries is None or self._no_retries[0] is not base:
            self._no_retries = (base, base.with_options(max_retries=0))
        return self._no_retries[1]

    async def ensure(self, agent: AgentSpec, environment: EnvironmentSpec) -> Resources:
        """The resources for these specs, created if no run made them before."""
        client = self._creator()
        agent_call = self.store.resolve(
            "agent", agent.fingerprint, lambda: self._create_agent(client, agent)
        )
        env_call = self.store.resolve(
            "environment", environment.fingerprint, lambda: self._create_env(client, environment)
        )
        if self.store.known("agent", agent.fingerprint) and self.store.known(
            "environment", environment.fingerprint
        ):  # both answer at once: no tasks to wait on
            agent_rec, env_rec = await agent_call, await env_call
        else:  # reads or creates: both at once
            agent_rec, env_rec = await asyncio.gather(agent_call, env_call)
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
        agent_gone = await self.store.forget_if_gone("agent", agent.fingerprint, stale.agent_id)
        env_gone = await self.store.forget_if_gone(
            "environment", environment.fingerprint, stale.environment_id
        )
        if not (agent_gone or env_gone):
            return None
        return await self.ensure(agent, environment)

    @staticmethod
    async def _create_agent(client: anthropic.AsyncAnthropic, spec: AgentSpec) -> dict[str, Any]:
        agent = await client.beta.agents.create(**spec.create_body())
        return {"id": agent.id, "version": agent.version}

    @staticmethod
    async def _create_env(
        client: anthropic.AsyncAnthropic, spec: EnvironmentSpec
    ) -> dict[str, Any]:
        env = await client.beta.environments.create(**spec.create_body())
        return {"id": env.id}
