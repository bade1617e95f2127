"""Archiving agents and environments whose configuration nobody has used for a while.

Every changed prompt or tool set is a new fingerprint and so a new agent; without a sweep the
old ones pile up in the account. Each cached record carries ``last_used`` (refreshed at most
once per :data:`TOUCH_EVERY` seconds, so a busy fingerprint costs no write per turn). At most
once per sweep interval a background sweep lists the account's agents and environments, and
archives those this router created (their metadata names the fingerprint, the cache names
their id) that have gone unused for ``idle_after`` seconds, under the create pacer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anthropic

from copass_router import ResourceCache, get_logger, scrub

from .resources import CreatePacer

log = get_logger("copass_router_anthropic.sweep")

#: Seconds between refreshes of a record's ``last_used``.
TOUCH_EVERY = 3600.0
_KINDS = ("agent", "environment")


class ResourceSweeper:
    """Archives unused agents and environments; ``idle_after=0`` turns it off."""

    def __init__(
        self,
        client: Callable[[], anthropic.AsyncAnthropic],
        cache: ResourceCache,
        pacer: CreatePacer,
        *,
        idle_after: float,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._cache = cache
        self._pacer = pacer
        self.idle_after = idle_after
        self.interval = interval
        self.clock = clock
        self._last_sweep = clock()
        self._task: asyncio.Task[int] | None = None

    async def touch(self, key: str, record: dict[str, Any]) -> None:
        """Note that a run used the resource of ``key`` (a write at most once an hour)."""
        now = self.clock()
        if now - float(record.get("last_used") or 0) >= TOUCH_EVERY:
            record["last_used"] = now
            await self._cache.put(key, record)

    def maybe_sweep(self) -> None:
        """Start a sweep in the background when one is due (never blocks the turn)."""
        if not self.idle_after or (self._task is not None and not self._task.done()):
            return
        if self.clock() - self._last_sweep >= self.interval:
            self._last_sweep = self.clock()
            self._task = asyncio.ensure_future(self._guarded())

    async def _guarded(self) -> int:
        try:
            return await self.sweep()
        except Exception as exc:  # a failed sweep is retried at the next interval
            log.warning("sweep_failed", error=scrub(repr(exc)))
            return 0

    async def sweep(self) -> int:
        """Archive what has gone unused; returns how many resources were archived."""
        client = self._client()
        archived = 0
        for kind in _KINDS:
            listing = client.beta.agents if kind == "agent" else client.beta.environments
            async for item in listing.list():
                if await self._archive_if_idle(kind, item):
                    archived += 1
        return archived

    async def _archive_if_idle(self, kind: str, item: Any) -> bool:
        fp = (getattr(item, "metadata", None) or {}).get("copass_router_fingerprint")
        if not fp or getattr(item, "archived_at", None) is not None:
            return False
        key = f"{kind}:{fp}"
        record = await self._cache.get(key)
        if record is None or record.get("id") != item.id:
            return False  # not one this router's cache knows: someone else's to manage
        if self.clock() - float(record.get("last_used") or 0) < self.idle_after:
            return False
        await self._pacer.acquire()
        client = self._client()
        listing = client.beta.agents if kind == "agent" else client.beta.environments
        await listing.archive(item.id)
        await self._cache.delete(key)
        log.info("resource_archived", kind=kind, id=item.id)
        return True
