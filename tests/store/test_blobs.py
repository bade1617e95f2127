"""The bytes of message parts in each store: kept once per end user, read back by a later turn,
held to a quota per end user and per tenant."""

from __future__ import annotations

from typing import Any

import pytest

from copass_router import ImagePart, Message, PartPolicy, PartQuotaError, Router
from copass_router.content._blobs import Blob
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG, png


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_a_later_turn_reads_the_parts_back(store_url: str) -> None:
    image = ImagePart("image/png", SAMPLE_PNG)
    async with Router(store=store_url, load_entry_points=False, environ={}) as router:
        first = [e async for e in router.run(provider="echo", message=["/parts", image])]
        session = first[-1].session_id
    # A new router on the same store: nothing of the first turn is in memory.
    async with Router(store=store_url, load_entry_points=False, environ={}) as router:
        later = [e async for e in router.run(provider="echo", message="/parts", session_id=session)]
        assert _text(later) == f"parts: image image/png {image.sha256[:12]}"
        stored = await router.store.get_blobs("local", [image.sha256, "0" * 64])  # type: ignore[attr-defined]
        assert list(stored) == [image.sha256] and stored[image.sha256].data == SAMPLE_PNG
        assert await router.store.get_blobs("someone-else", [image.sha256]) == {}  # type: ignore[attr-defined]


async def test_the_same_bytes_are_kept_once_and_quotas_hold(store_url: str) -> None:
    async with Router(store=store_url, load_entry_points=False, environ={}) as router:
        store: Any = router.store
        quota = PartPolicy(end_user_bytes=len(SAMPLE_PNG) + len(SAMPLE_PDF), tenant_bytes=10_000)
        blob = Blob("a" * 64, "image/png", SAMPLE_PNG)
        await store.put_blobs("t1", "u1", [blob], quota)
        await store.put_blobs("t1", "u1", [blob], quota)  # already kept: adds nothing
        await store.put_blobs("t1", "u1", [Blob("b" * 64, "application/pdf", SAMPLE_PDF)], quota)
        with pytest.raises(PartQuotaError, match="the end user keeps"):
            await store.put_blobs("t1", "u1", [Blob("c" * 64, "image/png", b"x")], quota)
        tight = PartPolicy(end_user_bytes=10**9, tenant_bytes=len(SAMPLE_PNG) + len(SAMPLE_PDF))
        with pytest.raises(PartQuotaError, match="the tenant keeps"):
            await store.put_blobs("t1", "u2", [Blob("d" * 64, "image/png", b"x")], tight)
        assert await store.get_blobs("u2", ["d" * 64]) == {}, "a refused blob is not kept"


async def test_a_run_over_the_quota_is_refused_before_anything_is_recorded(
    store_url: str,
) -> None:
    quota = PartPolicy(end_user_bytes=len(SAMPLE_PNG) + 10)
    async with Router(
        store=store_url, load_entry_points=False, environ={}, part_policy=quota
    ) as router:
        await router.complete(provider="echo", message=["one", ImagePart("image/png", SAMPLE_PNG)])
        other = ImagePart("image/png", png(3, 3))
        with pytest.raises(PartQuotaError) as refused:
            await router.complete(provider="echo", message=["two", other])
        assert refused.value.code == "payload_too_large"
        assert len(await router.list_sessions()) == 1


async def test_deleting_sessions_frees_the_blobs_no_turn_refers_to(store_url: str) -> None:
    image = ImagePart("image/png", SAMPLE_PNG)
    async with Router(store=store_url, load_entry_points=False, environ={}) as router:
        router.parts.prune_grace = -1.0  # nothing in flight here
        one = await router.complete(provider="echo", message=["a", image])
        two = await router.complete(provider="echo", message=["b", image])
        store: Any = router.store
        await router.delete_session(one.session_id, "local")
        assert image.sha256 in await store.get_blobs("local", [image.sha256]), "still in use"
        await router.delete_session(two.session_id, "local")
        assert await store.get_blobs("local", [image.sha256]) == {}
        # A blob kept moments ago is left alone: its turn may not be recorded yet.
        await store.put_blobs("t", "local", [Blob("e" * 64, "image/png", SAMPLE_PNG)], PartPolicy())
        assert await store.prune_blobs("local", 0.0) == 0
