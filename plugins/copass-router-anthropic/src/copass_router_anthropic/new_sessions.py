"""Anthropic sessions: made for a router session, and made ahead for a new one.

A run that starts a router session has its Anthropic session created while the store makes the
router's (:meth:`~copass_router_anthropic.backend.AnthropicBackend.prepare_session`), on the
agent and environment the turn's preparation found, and its event stream opened: the session's
first turn finds both ready. What no turn took is closed and deleted.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anthropic

from copass_router import get_logger

from .event_stream import EventStream, open_event_stream
from .resources import AgentSpec, EnvironmentSpec, ResourceManager, Resources
from .turn_driver import DELTAS

__all__ = ["NewSession", "create_session", "start_session"]

log = get_logger("copass_router_anthropic.backend")


class NewSession:
    """A session made ahead for a new router session, with its event stream (None: opening it
    failed, the turn opens its own and says why)."""

    def __init__(self, session_id: str, resources: Resources, stream: EventStream | None) -> None:
        self.session_id = session_id
        self.resources = resources
        self._stream = stream

    def take_stream(self) -> EventStream | None:
        """The open event stream, for the one turn that uses it."""
        stream, self._stream = self._stream, None
        return stream

    async def close(self) -> None:
        """Close the stream no turn took."""
        stream = self.take_stream()
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.close()


async def start_session(
    client: anthropic.AsyncAnthropic,
    manager: ResourceManager,
    router_session_id: str,
    end_user_id: str,
    resources: Resources,
    agent: AgentSpec,
    environment: EnvironmentSpec,
) -> NewSession:
    """A new session for router session ``router_session_id``, its event stream open."""
    session_id, resources = await create_session(
        client, manager, router_session_id, end_user_id, resources, agent, environment
    )
    stream: EventStream | None = None
    try:
        stream = await open_event_stream(client, session_id, DELTAS)
    except anthropic.APIError:
        pass  # the turn opens the stream itself, and reports what fails then
    return NewSession(session_id, resources, stream)


async def create_session(
    client: anthropic.AsyncAnthropic,
    manager: ResourceManager,
    router_session_id: str,
    end_user_id: str,
    resources: Resources,
    agent: AgentSpec,
    environment: EnvironmentSpec,
) -> tuple[str, Resources]:
    """A new session and the resources it runs on; a 404 (the cached agent or environment is
    gone) re-creates them once."""
    for attempt in range(2):
        try:
            # Read as JSON: only its id is used (the SDK's model is validated, ~0.1 ms).
            response: Any = await client.beta.sessions.with_raw_response.create(
                agent={
                    "type": "agent",
                    "id": resources.agent_id,
                    "version": resources.agent_version,
                },
                environment_id=resources.environment_id,
                title=f"copass-router session {router_session_id}",
                metadata={
                    "copass_session_id": router_session_id,
                    "copass_end_user_id": end_user_id,
                },
            )
            session_id = str((await response.json())["id"])
            log.info("session_created", session_id=session_id)
            return session_id, resources
        except anthropic.NotFoundError:
            recovered = await manager.recover(resources, agent, environment)
            if attempt or recovered is None:
                raise
            resources = recovered
    raise AssertionError("unreachable")
