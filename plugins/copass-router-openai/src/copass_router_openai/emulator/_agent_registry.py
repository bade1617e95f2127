"""The emulated Agents API's saved agents: the account's agents and the create limit."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from copass_router.testing import schema_problems

from ._wire import WireError


class AgentRegistry:
    """Saved agents, created at most ``limit`` per ``period`` seconds (429 past it)."""

    def __init__(self, ids: Callable[[str], str], limit: int, period: float) -> None:
        self.agents: dict[str, dict[str, Any]] = {}
        self.limit = limit
        self.period = period
        self.created = 0
        self.rate_limited = 0
        self._ids = ids
        self._times: deque[float] = deque()

    def _take(self) -> float | None:
        """Count a create against the limit, or the seconds until one is allowed."""
        now = time.monotonic()
        while self._times and now - self._times[0] >= self.period:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return self.period - (now - self._times[0])
        self._times.append(now)
        return None

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The new agent of a create request; raises the API's refusal as a ``WireError``."""
        if not body.get("model"):
            raise WireError("Missing required parameter: 'model'.", param="model")
        for tool in body.get("tools") or []:
            if tool.get("type") != "function":
                continue
            if not tool.get("name"):
                raise WireError("A function tool needs a name.", param="tools")
            # What the real API refuses in a function's schema, the emulator refuses.
            problems = schema_problems(tool.get("parameters") or {"type": "object"}, "json-schema")
            if problems:
                raise WireError(
                    f"Invalid schema for function '{tool['name']}': {problems[0]}", param="tools"
                )
        wait = self._take()
        if wait is not None:
            self.rate_limited += 1
            raise RateLimited(wait)
        now = int(time.time())
        agent = {
            "id": self._ids("agent"),
            "object": "agent",
            "created_at": now,
            "updated_at": now,
            "name": body.get("name"),
            "model": body["model"],
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "metadata": body.get("metadata") or {},
            "multi_agent": {},
            "reasoning": {},
            "service_tier": "auto",
            "text": {},
        }
        self.agents[agent["id"]] = agent
        self.created += 1
        return agent

    def page(self, after: str | None, limit: int) -> dict[str, Any]:
        """One page of the listing, by id."""
        ids = sorted(i for i in self.agents if not after or i > after)
        data = [self.agents[i] for i in ids[:limit]]
        return {"object": "list", "data": data, "has_more": len(ids) > limit}

    def get(self, agent_id: str) -> dict[str, Any]:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise WireError("No agent found with that id.", status=404, code="not_found")
        return agent

    def delete(self, agent_id: str) -> dict[str, Any]:
        if self.agents.pop(agent_id, None) is None:
            raise WireError("No agent found with that id.", status=404, code="not_found")
        return {"id": agent_id, "object": "agent.deleted", "deleted": True}


class RateLimited(WireError):
    """A create past the limit: 429 with the seconds to wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(
            "Rate limit reached for agent creates.",
            status=429,
            type="rate_limit_error",
            code="rate_limit_exceeded",
        )
        self.wait = max(wait, 0.01)
