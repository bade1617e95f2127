"""The provider kit's resource cache, against a vendor API written for the test.

The plugins prove it through their SDKs and emulators (anthropic, openai-agents); these tests
pin the contract a new plugin relies on: one create per fingerprint, retryable failures waited
out, a gone resource forgotten and made anew, only this router's idle resources archived.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from copass_router import (
    FINGERPRINT_METADATA,
    CreatePacer,
    ListedResource,
    ProviderError,
    ProviderResources,
    ResourceCache,
    SQLiteStore,
    config_fingerprint,
)


class Busy(Exception):
    """What the vendor's SDK raises for a 429."""

    def __init__(self, wait: float | None) -> None:
        super().__init__("busy")
        self.wait = wait


class VendorApi:
    """A vendor with an account of resources; ``fail`` queues create failures."""

    def __init__(self) -> None:
        self.made: dict[str, dict[str, Any]] = {}
        self.fail: list[Exception] = []
        self.creates = 0
        self.archived: list[str] = []

    async def create(self, fingerprint: str) -> dict[str, Any]:
        await asyncio.sleep(0.01)  # long enough for concurrent runs to pile up
        if self.fail:
            raise self.fail.pop(0)
        self.creates += 1
        rid = f"r{self.creates}"
        self.made[rid] = {FINGERPRINT_METADATA: fingerprint}
        return {"id": rid, "extra": "kept"}

    def retryable(self, error: Exception) -> bool:
        return isinstance(error, Busy)

    def retry_after(self, error: Exception) -> float | None:
        return error.wait if isinstance(error, Busy) else None

    def create_error(self, error: Exception, kind: str) -> Exception:
        return ProviderError(f"create {kind} failed: {error}", provider="vendor")

    async def is_gone(self, kind: str, resource_id: str) -> bool:
        return resource_id not in self.made

    async def listing(self, kind: str) -> AsyncIterator[ListedResource]:
        for rid, meta in list(self.made.items()):
            yield ListedResource(id=rid, fingerprint=meta.get(FINGERPRINT_METADATA))

    async def archive(self, kind: str, resource_id: str) -> None:
        self.archived.append(resource_id)
        self.made.pop(resource_id, None)


@pytest.fixture
async def cache() -> AsyncIterator[ResourceCache]:
    store = SQLiteStore(":memory:")
    yield ResourceCache(store, "vendor")
    await store.close()


def resources(api: VendorApi, cache: ResourceCache, **options: Any) -> ProviderResources:
    return ProviderResources(
        api, cache, provider="vendor", pacer=CreatePacer(100, 1.0, name="vendor:creates"), **options
    )


async def test_concurrent_resolves_of_one_fingerprint_create_once(cache: ResourceCache) -> None:
    api = VendorApi()
    kit = resources(api, cache)
    fp = config_fingerprint({"model": "m", "system": "s"})
    records = await asyncio.gather(
        *(kit.resolve("agent", fp, lambda: api.create(fp)) for _ in range(10))
    )
    assert api.creates == 1
    assert {r["id"] for r in records} == {"r1"}
    assert records[0]["extra"] == "kept" and records[0]["fingerprint"] == fp
    assert await cache.get(f"agent:{fp}") is not None


async def test_a_retryable_failure_is_waited_out_and_a_final_one_is_neutral(
    cache: ResourceCache,
) -> None:
    api = VendorApi()
    kit = resources(api, cache, attempts=3)
    api.fail = [Busy(None), Busy(0.01)]  # no retry-after: the backoff (1 s) first
    record = await kit.resolve("agent", "fp-a", lambda: api.create("fp-a"))
    assert record["id"] == "r1"
    api.fail = [ValueError("bad model")]
    with pytest.raises(ProviderError, match="create agent failed: bad model"):
        await kit.resolve("agent", "fp-b", lambda: api.create("fp-b"))
    api.fail = [Busy(0.01)] * 3
    with pytest.raises(ProviderError, match="busy"):
        await kit.resolve("agent", "fp-c", lambda: api.create("fp-c"))


async def test_a_gone_resource_is_forgotten_and_made_anew(cache: ResourceCache) -> None:
    api = VendorApi()
    kit = resources(api, cache)
    first = await kit.resolve("agent", "fp", lambda: api.create("fp"))
    assert not await kit.forget_if_gone("agent", "fp", first["id"])  # still there
    api.made.clear()
    assert await kit.forget_if_gone("agent", "fp", first["id"])
    second = await kit.resolve("agent", "fp", lambda: api.create("fp"))
    assert second["id"] != first["id"] and api.creates == 2


async def test_the_sweep_archives_only_this_routers_idle_resources(cache: ResourceCache) -> None:
    api = VendorApi()
    kit = resources(api, cache, kinds=("agent",), idle_after=100.0)
    now = [1000.0]
    kit.clock = lambda: now[0]
    old = await kit.resolve("agent", "old", lambda: api.create("old"))
    api.made["someone-elses"] = {FINGERPRINT_METADATA: "foreign"}
    now[0] += 50
    fresh = await kit.resolve("agent", "fresh", lambda: api.create("fresh"))
    now[0] += 60  # old: 110 s unused; fresh: 60 s
    assert await kit.sweep() == 1
    assert api.archived == [old["id"]]
    assert await cache.get("agent:old") is None
    assert await cache.get("agent:fresh") == fresh
    assert "someone-elses" in api.made


async def test_no_sweep_when_archiving_is_off(cache: ResourceCache) -> None:
    kit = resources(VendorApi(), cache, idle_after=0.0, sweep_interval=0.0)
    kit.maybe_sweep()
    assert not kit.sweeping


async def test_a_resource_read_lately_is_known_until_it_is_read_again(
    cache: ResourceCache,
) -> None:
    from copass_router.provider_kit._provider_resources import RECHECK_AFTER

    api = VendorApi()
    kit = resources(api, cache)
    now = [1000.0]
    kit.clock = lambda: now[0]
    assert not kit.known("agent", "fp")
    made = await kit.resolve("agent", "fp", lambda: api.create("fp"))
    assert kit.known("agent", "fp") and not kit.known("environment", "fp")
    now[0] += RECHECK_AFTER  # the next resolve reads the store again
    assert not kit.known("agent", "fp")
    assert await kit.resolve("agent", "fp", lambda: api.create("fp")) == made
    assert kit.known("agent", "fp") and api.creates == 1
