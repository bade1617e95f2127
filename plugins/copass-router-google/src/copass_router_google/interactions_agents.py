"""Managed Gemini agents for ``gemini-agents``: one agent per configuration fingerprint.

When the operator names a base agent (``agent`` setting), each run's configuration (base agent,
model, system prompt, enabled built-in tools, environment) is an agent made with
``client.aio.agents.create`` under a caller-chosen id derived from its fingerprint, through the
core's :class:`~copass_router.ProviderResources` (single-flight across workers, creates paced,
one gone provider-side made anew, unused ones deleted by the background sweep). The full
fingerprint rides in the agent's description, which is how a sweep tells the router's agents
from anyone else's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs
from google.genai import _interactions as sdk_errors

from copass_router import FINGERPRINT_METADATA, ListedResource, config_fingerprint

from .interactions_errors import status_error

#: Agent ids are ``copass-`` and this many hex digits of the fingerprint.
ID_DIGITS = 40


@attrs.frozen
class AgentSpec:
    """What one managed agent is made of (its fingerprint is the cache key)."""

    base_agent: str
    model: str
    system: str | None
    builtin_tools: tuple[str, ...]
    environment: Mapping[str, Any] | None

    @property
    def fingerprint(self) -> str:
        return config_fingerprint(attrs.asdict(self))

    @property
    def agent_id(self) -> str:
        return f"copass-{self.fingerprint[:ID_DIGITS]}"

    def create_fields(self) -> dict[str, Any]:
        """The fields of ``agents.create`` for this spec."""
        fields: dict[str, Any] = {
            "id": self.agent_id,
            "base_agent": self.base_agent,
            "description": f"copass-router {FINGERPRINT_METADATA}={self.fingerprint}",
            # The antigravity runtime takes the model of its reasoning here: the run's model.
            "agent_config": {"type": "antigravity", "model": self.model},
        }
        if self.system:
            fields["system_instruction"] = self.system
        if self.builtin_tools:
            fields["tools"] = [{"type": name} for name in self.builtin_tools]
        if self.environment:
            fields["base_environment"] = dict(self.environment)
        return fields


def fingerprint_of(description: str | None) -> str | None:
    """The fingerprint an agent's description names, if this router made it."""
    marker = f"{FINGERPRINT_METADATA}="
    if not description or marker not in description:
        return None
    return description.split(marker, 1)[1].split()[0] or None


class GeminiAgentApi:
    """The SDK's agent calls as the core's resource cache needs them (a ``ResourceApi``)."""

    def __init__(self, agents: Callable[[], Any]) -> None:
        self._agents = agents

    def retryable(self, error: Exception) -> bool:
        return isinstance(error, sdk_errors.RateLimitError | sdk_errors.InternalServerError)

    def retry_after(self, error: Exception) -> float | None:
        if not isinstance(error, sdk_errors.APIStatusError):
            return None
        try:
            return float(error.response.headers.get("retry-after") or "")
        except ValueError:
            return None

    def create_error(self, error: Exception, kind: str) -> Exception:
        if isinstance(error, sdk_errors.APIStatusError):
            return status_error(error, f"create the {kind}")
        return error

    async def is_gone(self, kind: str, resource_id: str) -> bool:
        try:
            await self._agents().get(resource_id)
        except sdk_errors.NotFoundError:
            return True
        except sdk_errors.APIStatusError as exc:
            raise status_error(exc, "look up a cached agent") from None
        return False

    async def listing(self, kind: str) -> AsyncIterator[ListedResource]:
        token: str | None = None
        while True:
            page = await self._agents().list(page_token=token)
            for agent in page.agents or ():
                yield ListedResource(
                    id=str(agent.id), fingerprint=fingerprint_of(agent.description)
                )
            token = page.next_page_token
            if not token:
                return

    async def archive(self, kind: str, resource_id: str) -> None:
        try:
            await self._agents().delete(resource_id)
        except sdk_errors.NotFoundError:
            return
