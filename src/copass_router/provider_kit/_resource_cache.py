"""A backend's durable key-value space in the router's store (created agents and the like)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copass_router.store._base import SessionStore


class ResourceCache:
    """A backend's durable key-value space in the router's store (e.g. created agents).

    Values are JSON objects. Keys are the backend's own (a fingerprint, typically); the space is
    namespaced by provider, so backends never see each other's resources.
    """

    def __init__(self, store: SessionStore, namespace: str) -> None:
        self._store = store
        self._namespace = namespace

    async def get(self, key: str) -> dict[str, Any] | None:
        """The value stored under ``key``, or None."""
        return await self._store.get_resource(self._namespace, key)

    async def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        await self._store.put_resource(self._namespace, key, value)

    async def delete(self, key: str) -> None:
        """Forget ``key`` (e.g. the provider says the resource is gone)."""
        await self._store.delete_resource(self._namespace, key)
