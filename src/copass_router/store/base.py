"""The session store interface. The router only talks to a store through these methods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..types import Binding, SessionInfo, TranscriptTurn


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, their neutral transcripts, native bindings and backend resources.

    Every method is async; an implementation must never block the event loop. Sessions belong
    to one end user: lookups by another end user behave as if the session did not exist.
    """

    async def create_session(self, end_user_id: str) -> SessionInfo:
        """Create an empty session for ``end_user_id`` with a fresh id."""
        ...

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo | None:
        """The session, or None if it does not exist or belongs to another end user."""
        ...

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        """Recent sessions, newest first (all end users when ``end_user_id`` is None)."""
        ...

    async def delete_session(self, session_id: str, end_user_id: str) -> bool:
        """Delete a session and everything it holds; False if it was not found."""
        ...

    async def begin_turn(self, session_id: str, turn: TranscriptTurn) -> None:
        """Record a turn as it starts (status running), at index ``turn.index``."""
        ...

    async def finish_turn(self, session_id: str, turn: TranscriptTurn) -> None:
        """Replace the turn at ``turn.index`` with its final form."""
        ...

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        """The session's turns from index ``start`` on, in order."""
        ...

    async def get_binding(self, session_id: str, provider: str) -> Binding | None:
        """The session's link to ``provider``'s native session, if any."""
        ...

    async def put_binding(self, session_id: str, provider: str, binding: Binding) -> None:
        """Create or replace the session's link to ``provider``'s native session."""
        ...

    async def get_resource(self, namespace: str, key: str) -> dict[str, Any] | None:
        """A backend resource (e.g. a created agent) by key."""
        ...

    async def put_resource(self, namespace: str, key: str, value: Mapping[str, Any]) -> None:
        """Store a backend resource."""
        ...

    async def delete_resource(self, namespace: str, key: str) -> None:
        """Forget a backend resource."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
