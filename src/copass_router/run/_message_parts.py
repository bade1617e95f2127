"""A run's message parts on the run path: kept as blobs before the turn is recorded, read back
into the history a provider receives, and refused where the provider cannot take them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import attrs

from copass_router._errors import InvalidRequestError
from copass_router._types import RunRequest, TranscriptTurn
from copass_router.accounting._metering import account_of
from copass_router.content._blobs import (
    BlobStore,
    PartPolicy,
    blobs_of,
    unloaded_hashes,
    with_blobs,
)
from copass_router.content._fetch import PartFetching
from copass_router.content._parts import message_text
from copass_router.content._support import (
    PartNotTakenError,
    PartsTooLargeError,
    request_refusal,
    takes_part,
)
from copass_router.run._requests import check_for_backend, validate_request
from copass_router.store._base import TurnStart

#: Default of :attr:`MessageParts.prune_grace`.
PRUNE_GRACE = 600.0


class MessageParts:
    """What the router does with the images and files of runs, under one quota."""

    def __init__(self, policy: PartPolicy) -> None:
        self.quota = policy
        self.fetching = PartFetching(policy.url_hosts)
        #: Seconds a blob no turn refers to is kept anyway: a run may have stored it and not
        #: yet recorded the turn that refers to it.
        self.prune_grace = PRUNE_GRACE

    async def forget(self, store: Any, end_user_id: str) -> None:
        """Delete the blobs no turn of ``end_user_id`` refers to any more (after one of their
        sessions is deleted), so they stop counting against the quotas."""
        if isinstance(store, BlobStore):
            await store.prune_blobs(end_user_id, time.time() - self.prune_grace)

    async def check_for_backend(
        self, request: RunRequest, backend: Any, fields_in_use: Iterable[str], router: Any
    ) -> tuple[RunRequest, RunRequest]:
        """``request`` with the part URLs the operator lets the router fetch replaced by their
        bytes, checked by :func:`check_for_backend`, whose refusal of a part names the
        installed providers that take it (``router``: where their backends come from); and
        that request as the backend receives it (only the provider fields it declares)."""
        message = await self.fetching.fetched(request.message)
        if message is not request.message:
            request = attrs.evolve(request, message=message)
            validate_request(request, router.max_message_chars)
        try:
            own = check_for_backend(request, backend, fields_in_use)
        except (PartNotTakenError, PartsTooLargeError) as exc:
            raise await part_takers(exc, router.plugins.providers(), router.backend) from None
        return request, own

    async def keep(self, store: Any, request: RunRequest) -> dict[str, Any]:
        """Keep the bytes of ``request``'s images and files (one store call, none for a
        string message); the ``begin_turn`` arguments that record the user's message."""
        if isinstance(request.message, str):
            return {"user": request.message}
        blobs = blobs_of(request.message)
        if blobs:
            if not isinstance(store, BlobStore):
                raise InvalidRequestError(
                    f"the session store ({type(store).__name__}) does not keep images and "
                    "files; run with the SQLite or PostgreSQL store, or send text only",
                    field="message",
                )
            tenant, _ = account_of(request)
            await store.put_blobs(tenant, request.end_user_id, blobs, self.quota)
        return {"user": message_text(request.message), "parts": request.message}

    async def load(
        self, store: Any, end_user_id: str, turns: Sequence[TranscriptTurn]
    ) -> list[TranscriptTurn]:
        """``turns`` with the bytes of their images and files read back (one store call when
        any has some, none otherwise)."""
        hashes = unloaded_hashes(turns)
        if not hashes or not isinstance(store, BlobStore):
            return list(turns)
        return with_blobs(turns, await store.get_blobs(end_user_id, hashes))

    async def loaded(self, store: Any, start: TurnStart) -> TurnStart:
        """``start`` with the bytes of its history's images and files."""
        history = await self.load(store, start.session.end_user_id, start.history)
        return attrs.evolve(start, history=tuple(history))

    def view(self, store: Any, start: TurnStart) -> Any:
        """``store`` as the run ``start`` began sees it: turns it loads come with their
        parts' bytes."""
        return _LoadingParts(store, start.session.end_user_id, self)


class _LoadingParts:
    """A store whose ``load_turns`` reads back the bytes of images and files; every other
    call goes to the store itself."""

    def __init__(self, store: Any, end_user_id: str, parts: MessageParts) -> None:
        self._store, self._end_user_id, self._parts = store, end_user_id, parts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def load_turns(self, session_id: str, start: int = 0) -> list[TranscriptTurn]:
        turns = await self._store.load_turns(session_id, start)
        return await self._parts.load(self._store, self._end_user_id, turns)


async def part_takers(
    refusal: PartNotTakenError | PartsTooLargeError,
    providers: Iterable[str],
    backend_for: Callable[[str], Awaitable[Any]],
) -> PartNotTakenError | PartsTooLargeError:
    """``refusal`` naming the installed providers that take its part (or, for parts over a
    provider's limit for one request, all of them together); a provider that fails to load
    is skipped: this only names alternatives in an error."""
    found = []
    for name in providers:
        try:
            backend = await backend_for(name)
        except Exception:
            continue
        if _takes(backend.part_support, refusal):
            found.append(name)
    return refusal.with_takers(found)


def _takes(support: Any, refusal: PartNotTakenError | PartsTooLargeError) -> bool:
    if isinstance(refusal, PartNotTakenError):
        return takes_part(support, refusal.part)
    parts = refusal.parts
    return all(takes_part(support, p) for p in parts) and not request_refusal("", parts, support)
