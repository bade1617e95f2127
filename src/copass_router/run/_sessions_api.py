"""The session part of the Router's API: read, list and delete sessions and transcripts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from copass_router._logs import get_logger, scrub

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from copass_router._types import SessionInfo, TranscriptTurn
    from copass_router.plugin_host._plugins import PluginHost
    from copass_router.provider_kit._backend import AgentBackend
    from copass_router.run._message_parts import MessageParts
    from copass_router.store import SessionStore

log = get_logger("copass_router.router")


class SessionsAPI:
    """Mixed into :class:`~copass_router.Router`: its sessions, by end user."""

    plugins: PluginHost
    parts: MessageParts

    @property
    def store(self) -> SessionStore:
        raise NotImplementedError

    async def backend(self, provider: str) -> AgentBackend:
        raise NotImplementedError

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo:
        """A session of ``end_user_id``; :class:`SessionNotFoundError` for anyone else's."""
        from copass_router._errors import SessionNotFoundError
        from copass_router.run._requests import check_id

        check_id(session_id, "session_id")
        check_id(end_user_id, "end_user_id")
        info = await self.store.get_session(session_id, end_user_id)
        if info is None:
            raise SessionNotFoundError(session_id)
        return info

    async def transcript(self, session_id: str, end_user_id: str) -> list[TranscriptTurn]:
        """Every turn of a session of ``end_user_id``."""
        await self.get_session(session_id, end_user_id)
        return await self.store.load_turns(session_id)

    async def list_sessions(
        self, end_user_id: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        """Recent sessions, newest first (every end user's when ``end_user_id`` is None)."""
        if end_user_id is not None:
            from copass_router.run._requests import check_id

            check_id(end_user_id, "end_user_id")
        return await self.store.list_sessions(end_user_id, limit)

    async def delete_session(self, session_id: str, end_user_id: str) -> None:
        """Delete a session of ``end_user_id``, its transcript, and (best effort, through each
        backend's ``delete_native_session``) the provider-side sessions it is bound to."""
        from copass_router._errors import SessionNotFoundError
        from copass_router.run._requests import check_id

        check_id(session_id, "session_id")
        check_id(end_user_id, "end_user_id")
        if await self.store.get_session(session_id, end_user_id) is None:
            raise SessionNotFoundError(session_id)
        self.plugins.load()
        bindings = {}
        for provider in self.plugins.backends:
            binding = await self.store.get_binding(session_id, provider)
            if binding is not None:
                bindings[provider] = binding
        # The store refuses a session whose turn is running (SessionBusyError), in any process.
        if not await self.store.delete_session(session_id, end_user_id):
            raise SessionNotFoundError(session_id)
        await self.parts.forget(self.store, end_user_id)  # images and files no turn refers to
        for provider, binding in bindings.items():
            try:
                backend = await self.backend(provider)
                await backend.delete_native_session(binding)
            except Exception as exc:  # the router session is gone either way
                log.warning(
                    "native_session_not_deleted",
                    provider=provider,
                    session_id=session_id,
                    error=scrub(repr(exc)),
                )
