"""The session store interface. The router only talks to a store through these methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from copass_router._types import Binding, SessionInfo, TranscriptTurn
from copass_router.content._parts import Part

#: Seconds a turn's claim on its session lasts unless renewed (the router renews it while the
#: turn runs); a crashed process's turn is marked interrupted once this has passed.
LEASE_SECONDS = 30.0


@attrs.frozen
class TurnStart:
    """What :meth:`SessionStore.begin_turn` gives back: the claimed session and the new turn.

    ``turn`` is the turn as recorded (status running, its index chosen by the store);
    ``history`` the earlier turns the provider has not seen (all of them without a binding);
    ``lease`` the fencing token that :meth:`SessionStore.finish_turn` and
    :meth:`SessionStore.renew_lease` must present. The claim lasts ``lease_seconds``.
    """

    session: SessionInfo
    turn: TranscriptTurn
    binding: Binding | None
    history: tuple[TranscriptTurn, ...]
    lease: int
    lease_seconds: float


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, their neutral transcripts, native bindings and backend resources.

    Every method is async; an implementation must never block the event loop. Sessions belong
    to one end user: lookups by another end user behave as if the session did not exist.
    A turn is two calls, each one round trip: :meth:`begin_turn` and :meth:`finish_turn`.
    """

    async def begin_turn(
        self,
        *,
        session_id: str | None,
        end_user_id: str,
        run_id: str,
        provider: str,
        model: str,
        user: str,
        with_binding: bool,
        parts: Sequence[Part] = (),
        new_session_id: str | None = None,
    ) -> TurnStart:
        """Claim the session and record a running turn at its next index, atomically.

        ``user`` is the text of the user's message; ``parts`` the whole message when it was
        given as parts (a store that keeps them implements ``BlobStore`` for their bytes).

        Creates the session when ``session_id`` is None, with the id ``new_session_id`` (one
        the store makes when that is None too). Reads ``provider``'s binding when
        ``with_binding`` and the turns it has not seen. A turn left running by a claim that
        expired (its process died) is marked interrupted first.

        :raises SessionNotFoundError: no such session for this end user.
        :raises SessionBusyError: another turn holds the session (in any process).
        """
        ...

    async def finish_turn(
        self,
        session_id: str,
        turn: TranscriptTurn,
        lease: int,
        binding: tuple[str, Binding] | None = None,
    ) -> bool:
        """Record the turn's final form, store ``(provider, binding)`` if given, and release
        the session, atomically. False (nothing written) if ``lease`` is no longer the
        session's claim: the session was deleted or another turn took it over."""
        ...

    async def renew_lease(self, session_id: str, lease: int) -> bool:
        """Extend the claim of a turn still running; False if the claim was lost."""
        ...

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
        """Delete a session and everything it holds; False if it was not found.

        :raises SessionBusyError: a turn holds the session.
        """
        ...

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        """The session's turns from index ``start`` on, in order (turns whose process died
        are marked interrupted first)."""
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
