"""How the transcript keeps images and files: content-addressed blobs, under a quota.

A turn's JSON keeps each image or file as a reference (kind, media type, sha256, size); the
bytes live once per end user in the store's blob table, named by their sha256, so a session
that shows the same screenshot twice stores it once. A store that keeps blobs implements
:class:`BlobStore` (the SQLite and PostgreSQL stores do). Each end user, and each tenant,
may hold up to a quota of bytes (:class:`PartPolicy`); a message over it is refused before
anything is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from copass_router._errors import PayloadTooLargeError
from copass_router._settings import env_int
from copass_router._types import TranscriptTurn
from copass_router.content._parts import FilePart, ImagePart, Part

#: Default bytes of images and files one end user may keep (1 GiB).
END_USER_QUOTA = 1 << 30
#: Default bytes of images and files one tenant may keep, all its end users together (20 GiB).
TENANT_QUOTA = 20 << 30


@attrs.frozen
class Blob:
    """The bytes of one image or file, named by their sha256."""

    sha256: str
    media_type: str
    data: bytes


def _hosts(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values if v.strip())


@attrs.frozen
class PartPolicy:
    """The operator's policy for images and files: how many bytes the store keeps per end
    user and per tenant, and the hosts whose part URLs the router fetches itself (none by
    default: a URL goes to the provider as a URL; see ``content._fetch``).

    ``COPASS_ROUTER_PART_QUOTA`` and ``COPASS_ROUTER_TENANT_PART_QUOTA`` (bytes) and
    ``COPASS_ROUTER_PART_URL_HOSTS`` (comma-separated) set the defaults.
    """

    end_user_bytes: int = END_USER_QUOTA
    tenant_bytes: int = TENANT_QUOTA
    url_hosts: frozenset[str] = attrs.field(default=frozenset(), converter=_hosts)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PartPolicy:
        """The policy the environment configures (the defaults where it says nothing)."""
        env = os.environ if environ is None else environ
        return cls(
            env_int(env, "COPASS_ROUTER_PART_QUOTA", END_USER_QUOTA),
            env_int(env, "COPASS_ROUTER_TENANT_PART_QUOTA", TENANT_QUOTA),
            env.get("COPASS_ROUTER_PART_URL_HOSTS", "").split(","),
        )


class PartQuotaError(PayloadTooLargeError):
    """Keeping a message's images and files would take an end user or a tenant over its
    quota of stored bytes."""

    def __init__(self, who: str, held: int, adding: int, quota: int) -> None:
        super().__init__(
            f"the {who} keeps {held} bytes of images and files; this message adds {adding} "
            f"and the quota is {quota}: delete old sessions or ask the operator for more",
            field="message",
        )


@runtime_checkable
class BlobStore(Protocol):
    """A session store that keeps the bytes of message parts."""

    async def put_blobs(
        self, tenant: str, end_user_id: str, blobs: Sequence[Blob], quota: PartPolicy
    ) -> None:
        """Keep ``blobs`` for ``end_user_id`` (those it already has are not stored twice).

        :raises PartQuotaError: the end user or the tenant would go over ``quota``.
        """
        ...

    async def get_blobs(self, end_user_id: str, hashes: Sequence[str]) -> dict[str, Blob]:
        """The blobs of ``end_user_id`` with these hashes (missing ones are left out)."""
        ...

    async def prune_blobs(self, end_user_id: str, before: float) -> int:
        """Delete the blobs of ``end_user_id`` kept before ``before`` (a time) that none of
        their turns refers to any more; how many went."""
        ...


def blobs_of(parts: Iterable[Part]) -> list[Blob]:
    """The blobs to keep for ``parts``: one per distinct byte content (URLs keep none)."""
    found: dict[str, Blob] = {}
    for part in parts:
        if isinstance(part, ImagePart | FilePart) and part.data is not None:
            found.setdefault(part.sha256, Blob(part.sha256, part.media_type, part.data))
    return list(found.values())


def unloaded_hashes(turns: Iterable[TranscriptTurn]) -> list[str]:
    """The hashes of the parts of ``turns`` whose bytes have not been read back."""
    wanted: dict[str, None] = {}
    for turn in turns:
        for part in turn.parts:
            if isinstance(part, ImagePart | FilePart) and not part.loaded:
                wanted[part.sha256] = None
    return list(wanted)


def with_blobs(turns: Sequence[TranscriptTurn], blobs: Mapping[str, Blob]) -> list[TranscriptTurn]:
    """``turns`` with the bytes of their parts filled in from ``blobs``; a part whose blob is
    gone stays a reference (a backend refuses to send it)."""
    return [
        attrs.evolve(turn, parts=tuple(_loaded(p, blobs) for p in turn.parts))
        if turn.parts
        else turn
        for turn in turns
    ]


def _loaded(part: Part, blobs: Mapping[str, Blob]) -> Part:
    if not isinstance(part, ImagePart | FilePart) or part.loaded:
        return part
    blob = blobs.get(part.sha256)
    return part if blob is None else attrs.evolve(part, data=blob.data)
