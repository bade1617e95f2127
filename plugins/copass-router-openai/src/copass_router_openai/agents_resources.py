"""The OpenAI Agents API's reusable agents, made once per configuration.

A run brings its model, instructions and tools; the API runs a session on a saved agent. The
agent of a configuration (its fingerprint) is created through the core's
:class:`~copass_router.ProviderResources` (single-flight across workers, creates paced, a
deleted agent re-created, agents nobody used for a while deleted). Environments are given per
session (``none`` by default, a hosted sandbox when the operator enables it), so agents are
the one cached kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs
import openai

from copass_router import (
    FINGERPRINT_METADATA,
    ListedResource,
    ProviderResources,
    ToolSpec,
    config_fingerprint,
    normalise_schema,
)

from .agents_errors import PROVIDER, api_error, retry_after


def function_tool(spec: ToolSpec) -> dict[str, Any]:
    """A router tool as the agent's client-side function tool."""
    schema = normalise_schema(spec.parameters, "json-schema")  # $ref inline, object at the top
    return {
        "type": "function",
        "name": spec.name,
        "description": spec.description or spec.name,
        "parameters": schema,
    }


@attrs.frozen
class AgentSpec:
    """What defines an agent: model, instructions and tools (router tools, then the vendor
    built-in tools the operator enabled)."""

    model: str
    instructions: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def for_run(
        cls,
        model: str,
        instructions: str | None,
        tools: Sequence[ToolSpec],
        builtin: Sequence[Mapping[str, Any]] = (),
    ) -> AgentSpec:
        declared = [function_tool(t) for t in sorted(tools, key=lambda t: t.name)]
        declared.extend(dict(b) for b in builtin)
        return cls(model, instructions, tuple(declared))

    @property
    def fingerprint(self) -> str:
        return config_fingerprint(attrs.asdict(self))

    def create_body(self) -> dict[str, Any]:
        fp = self.fingerprint
        body: dict[str, Any] = {
            "name": f"copass-{fp[:16]}",
            "model": self.model,
            "tools": [dict(t) for t in self.tools],
            "metadata": {FINGERPRINT_METADATA: fp},
        }
        if self.instructions:
            body["instructions"] = self.instructions
        return body


class AgentsResourceApi:
    """Saved agents of the OpenAI Agents API (a ``ResourceApi``); unused ones are deleted
    (the API has no archive)."""

    def __init__(self, client: Callable[[], openai.AsyncOpenAI]) -> None:
        self._client = client

    def retryable(self, error: Exception) -> bool:
        return isinstance(error, (openai.RateLimitError, openai.InternalServerError))

    def retry_after(self, error: Exception) -> float | None:
        if isinstance(error, openai.APIStatusError):
            return retry_after(error.response.headers)
        return None

    def create_error(self, error: Exception, kind: str) -> Exception:
        if isinstance(error, openai.APIError):
            return api_error(error, f"create the {kind}")
        return error

    async def is_gone(self, kind: str, resource_id: str) -> bool:
        try:
            await self._client().beta.agents.retrieve(resource_id)
        except openai.NotFoundError:
            return True
        except openai.APIError as exc:
            raise api_error(exc, "look up a cached agent") from None
        return False

    async def listing(self, kind: str) -> AsyncIterator[ListedResource]:
        async for agent in self._client().beta.agents.list(limit=100):
            yield ListedResource(id=agent.id, fingerprint=agent.metadata.get(FINGERPRINT_METADATA))

    async def archive(self, kind: str, resource_id: str) -> None:
        try:
            await self._client().beta.agents.delete(resource_id)
        except openai.NotFoundError:
            return


class AgentCache:
    """The saved agent of a configuration, on the core's resource cache."""

    def __init__(self, client: Callable[[], openai.AsyncOpenAI], store: ProviderResources):
        self._client = client
        self.store = store
        self._no_retries: tuple[openai.AsyncOpenAI, openai.AsyncOpenAI] | None = None

    def _creator(self) -> openai.AsyncOpenAI:
        """The client without SDK retries (the pacer retries), made before a create's slot
        under the pacer comes, so nothing but the request runs in it."""
        base = self._client()
        if self._no_retries is None or self._no_retries[0] is not base:
            self._no_retries = (base, base.with_options(max_retries=0))
        return self._no_retries[1]

    async def ensure(self, spec: AgentSpec) -> str:
        """The id of the agent of ``spec``, created if no run made it before."""
        client = self._creator()
        record = await self.store.resolve(
            "agent", spec.fingerprint, lambda: self._create(client, spec)
        )
        return str(record["id"])

    async def forget_if_gone(self, spec: AgentSpec, agent_id: str) -> bool:
        """After a 404: whether the cached agent is gone (then forgotten, made anew next)."""
        return await self.store.forget_if_gone("agent", spec.fingerprint, agent_id)

    @staticmethod
    async def _create(client: openai.AsyncOpenAI, spec: AgentSpec) -> dict[str, Any]:
        agent = await client.beta.agents.create(**spec.create_body())
        return {"id": agent.id}


__all__ = ["PROVIDER", "AgentCache", "AgentSpec", "AgentsResourceApi", "function_tool"]
