"""Provider-side resources (managed agents, environments) made once per fingerprint.

A managed-agent runtime wants its agent (model, instructions, tools) and environment created
ahead of a run; a run brings its own configuration. :class:`ProviderResources` maps the
configuration's fingerprint to the provider's resource, in the router's store:

- single-flight: however many runs arrive cold at once, in this process and (through the
  router's coordinator) on every worker, each fingerprint is created once;
- paced: creates start under the vendor's limit (a :class:`CreatePacer` shared by all workers),
  waiting out a 429's retry-after and brief 5xx instead of failing the run;
- stale ones re-created: :meth:`ProviderResources.forget_if_gone` drops a cached id the
  provider no longer has, so the next :meth:`~ProviderResources.resolve` makes it anew;
- unused ones archived: each record carries ``last_used``; a background sweep archives what this
  router made and nobody used for ``idle_after`` seconds.

What differs per vendor (its SDK's calls and exceptions) comes in a :class:`ResourceApi`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from copass_router._logs import get_logger, scrub
from copass_router.coordination._base import Coordinator
from copass_router.provider_kit._resource_cache import ResourceCache

log = get_logger("copass_router.provider_resources")

#: The metadata key a created resource carries, naming its fingerprint (what a sweep reads).
FINGERPRINT_METADATA = "copass_router_fingerprint"
#: Seconds between refreshes of a record's ``last_used`` (a busy fingerprint costs no write
#: per turn).
TOUCH_EVERY = 3600.0
#: Seconds a record read from the store serves this process's runs before it is read again: a
#: busy fingerprint costs no store read per turn. One the provider no longer has is found by
#: the run that uses it and made anew (:meth:`ProviderResources.forget_if_gone`).
RECHECK_AFTER = 10.0


def config_fingerprint(value: Any) -> str:
    """A stable hash of a JSON-able value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CreatePacer:
    """Spaces creates so at most ``limit`` start in any ``period`` seconds; waits, never fails.

    The budget lives in the router's coordinator: in this process by default, shared by every
    worker with ``COPASS_ROUTER_COORDINATOR=redis://...``, which is what keeps N workers under
    the one limit a vendor enforces per organisation.
    """

    def __init__(
        self,
        limit: int = 60,
        period: float = 60.0,
        coordinator: Coordinator | None = None,
        name: str = "creates",
    ) -> None:
        self.limit = max(1, limit)
        self.period = period
        self.name = name
        self._coordinator = coordinator or Coordinator()

    async def acquire(self) -> None:
        """Wait until a create may start, and count it."""
        await self._coordinator.pace(self.name, self.limit, self.period)

    async def hold(self, seconds: float) -> None:
        """Start no create for ``seconds`` (the API said to retry after that long)."""
        await self._coordinator.hold(self.name, seconds)


@attrs.frozen
class ListedResource:
    """One resource of a vendor's listing, as a sweep sees it."""

    id: str
    #: The fingerprint its metadata names (None: not one this router made).
    fingerprint: str | None
    archived: bool = False


class ResourceApi(Protocol):
    """What :class:`ProviderResources` needs from a vendor's SDK: errors, listing, archiving."""

    def retryable(self, error: Exception) -> bool:
        """Whether a failed create is worth trying again (429, 5xx)."""
        ...

    def retry_after(self, error: Exception) -> float | None:
        """Seconds the vendor asked to wait before trying again, if it said."""
        ...

    def create_error(self, error: Exception, kind: str) -> Exception:
        """What to raise when creating a ``kind`` failed for good (a neutral error)."""
        ...

    async def is_gone(self, kind: str, resource_id: str) -> bool:
        """Whether the vendor no longer has the resource (404, or archived)."""
        ...

    def listing(self, kind: str) -> AsyncIterator[ListedResource]:
        """The account's resources of ``kind`` (for the sweep)."""
        ...

    async def archive(self, kind: str, resource_id: str) -> None:
        """Archive (or delete) a resource nobody uses any more."""
        ...


Create = Callable[[], Awaitable[Mapping[str, Any]]]


class ProviderResources:
    """A provider's resources by fingerprint: find, create once, forget when gone, sweep.

    :param provider: names the locks and the pacer's budget in the coordinator.
    :param kinds: the resource kinds a sweep lists (``("agent", "environment")``).
    :param idle_after: archive what went unused this many seconds (0: never).
    :param sweep_interval: seconds between background sweeps.
    :param attempts: tries per create when the vendor answers a retryable error.
    """

    def __init__(
        self,
        api: ResourceApi,
        cache: ResourceCache,
        *,
        provider: str,
        pacer: CreatePacer,
        coordinator: Coordinator | None = None,
        kinds: Sequence[str] = ("agent", "environment"),
        idle_after: float = 0.0,
        sweep_interval: float = 3600.0,
        attempts: int = 6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._cache = cache
        self.provider = provider
        self.pacer = pacer
        self._coordinator = coordinator or Coordinator()
        self.kinds = tuple(kinds)
        self.idle_after = idle_after
        self.sweep_interval = sweep_interval
        self.attempts = max(1, attempts)
        self.clock = clock
        self._last_sweep = clock()
        self._sweep_task: asyncio.Task[int] | None = None
        self._inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._known: dict[str, tuple[float, dict[str, Any]]] = {}  # key: (read at, record)

    @staticmethod
    def key(kind: str, fingerprint: str) -> str:
        """The cache key of a resource."""
        return f"{kind}:{fingerprint}"

    def known(self, kind: str, fingerprint: str) -> bool:
        """Whether :meth:`resolve` answers for this resource from what this process read
        lately, without waiting for the store or the vendor."""
        known = self._known.get(self.key(kind, fingerprint))
        return known is not None and self.clock() - known[0] < RECHECK_AFTER

    async def resolve(self, kind: str, fingerprint: str, create: Create) -> dict[str, Any]:
        """The cached record of this resource (``id`` and what ``create`` returned), made by
        ``create`` (paced, retried) if no run made it before; each fingerprint once."""
        key = self.key(kind, fingerprint)
        known = self._known.get(key)
        if known is not None and self.clock() - known[0] < RECHECK_AFTER:
            record: dict[str, Any] | None = known[1]
        else:
            record = await self._cache.get(key)
        if record is None:
            future = self._inflight.get(key)
            if future is None:
                # The create runs in its own task: a run that gives up waiting does not cancel
                # it for the others waiting on the same fingerprint.
                future = asyncio.ensure_future(self._create_once(kind, fingerprint, create))
                self._inflight[key] = future
                future.add_done_callback(lambda f: self._settle(key, f))
            record = await asyncio.shield(future)
        if known is None or known[1] is not record:
            self._remember(key, record)
        await self._touch(key, record)
        self.maybe_sweep()
        return record

    async def forget_if_gone(self, kind: str, fingerprint: str, resource_id: str) -> bool:
        """After the vendor said "not found": whether this cached resource is gone, forgetting
        it if so (the next :meth:`resolve` creates it anew)."""
        if not await self._api.is_gone(kind, resource_id):
            return False
        log.info("resource_gone", provider=self.provider, kind=kind, id=resource_id)
        key = self.key(kind, fingerprint)
        self._known.pop(key, None)
        # Only if it still names the stale resource: a concurrent run may have replaced it.
        cached = await self._cache.get(key)
        if cached is not None and cached.get("id") == resource_id:
            await self._cache.delete(key)
        return True

    def _remember(self, key: str, record: dict[str, Any]) -> None:
        now = self.clock()
        if len(self._known) >= 1024:  # many configurations: keep those read lately
            self._known = {k: v for k, v in self._known.items() if now - v[0] < RECHECK_AFTER}
        self._known[key] = (now, record)

    def _settle(self, key: str, future: asyncio.Future[dict[str, Any]]) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if not future.cancelled():
            future.exception()  # retrieved here so an unwatched failure is not logged as lost

    async def _create_once(self, kind: str, fingerprint: str, create: Create) -> dict[str, Any]:
        # One create per key across workers: whoever holds the lock creates; the others find
        # the record in the shared store once they get the lock.
        key = self.key(kind, fingerprint)
        async with self._coordinator.lock(f"{self.provider}:{key}", ttl=30):
            cached = await self._cache.get(key)  # another run or worker may have stored it
            if cached is not None:
                return cached
            made = await self._paced(kind, create)
            record = {**made, "fingerprint": fingerprint, "last_used": self.clock()}
            await self._cache.put(key, record)
            log.info(
                "resource_created",
                provider=self.provider,
                kind=kind,
                id=record.get("id"),
                fingerprint=fingerprint[:16],
            )
            return record

    async def _paced(self, kind: str, create: Create) -> Mapping[str, Any]:
        """Run a create under the pacer, waiting out 429s (retry-after) and brief 5xx."""
        for attempt in range(self.attempts):
            await self.pacer.acquire()
            try:
                return await create()
            except Exception as exc:
                if attempt == self.attempts - 1 or not self._api.retryable(exc):
                    raise self._api.create_error(exc, kind) from None
                asked = self._api.retry_after(exc)
                limit = max(self.pacer.period, 60.0)
                wait = min(asked, limit) if asked is not None else min(2.0**attempt, 30.0)
                log.info("create_retry", provider=self.provider, kind=kind, wait=wait)
                await self.pacer.hold(wait)
        raise AssertionError("unreachable")

    # --- archiving what nobody uses ----------------------------------------------------------

    async def _touch(self, key: str, record: dict[str, Any]) -> None:
        now = self.clock()
        if now - float(record.get("last_used") or 0) >= TOUCH_EVERY:
            record["last_used"] = now
            await self._cache.put(key, record)

    @property
    def sweeping(self) -> bool:
        """Whether a background sweep is running now."""
        return self._sweep_task is not None and not self._sweep_task.done()

    def maybe_sweep(self) -> None:
        """Start a sweep in the background when one is due (never blocks the turn)."""
        if not self.idle_after or self.sweeping:
            return
        if self.clock() - self._last_sweep >= self.sweep_interval:
            self._last_sweep = self.clock()
            self._sweep_task = asyncio.ensure_future(self._guarded_sweep())

    async def _guarded_sweep(self) -> int:
        try:
            return await self.sweep()
        except Exception as exc:  # a failed sweep is retried at the next interval
            log.warning("sweep_failed", provider=self.provider, error=scrub(repr(exc)))
            return 0

    async def sweep(self) -> int:
        """Archive what has gone unused; returns how many resources were archived."""
        archived = 0
        for kind in self.kinds:
            async for item in self._api.listing(kind):
                if await self._archive_if_idle(kind, item):
                    archived += 1
        return archived

    async def _archive_if_idle(self, kind: str, item: ListedResource) -> bool:
        if not item.fingerprint or item.archived:
            return False
        key = self.key(kind, item.fingerprint)
        record = await self._cache.get(key)
        if record is None or record.get("id") != item.id:
            return False  # not one this router's cache knows: someone else's to manage
        if self.clock() - float(record.get("last_used") or 0) < self.idle_after:
            return False
        await self.pacer.acquire()
        await self._api.archive(kind, item.id)
        self._known.pop(key, None)
        await self._cache.delete(key)
        log.info("resource_archived", provider=self.provider, kind=kind, id=item.id)
        return True
