"""The message-parts contract, proven by the conformance suite.

A backend sends every image and file it declares in ``part_support`` to its model with their
bytes intact (the scripted model's ``/parts`` lists the sha256 of what arrived), by URL where
it says it takes URLs; a later turn of the session still has them; a part it does not declare
is refused before the run, naming the part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from copass_router._events import Event, Message, RunFinished
from copass_router.content._parts import FilePart, ImagePart
from copass_router.content._support import PartNotTakenError, PartSupport
from copass_router.run._router import Router
from copass_router.testing._sample_parts import SAMPLES

#: The media types the kit tries, per kind, in order of preference.
_TRIED = {
    "image": ("image/png", "image/jpeg", "image/webp", "image/gif"),
    "file": ("application/pdf", "text/plain", "text/csv"),
}


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


def _part(kind: str, media_type: str, url: str | None = None) -> ImagePart | FilePart:
    cls = ImagePart if kind == "image" else FilePart
    if url is not None:
        return cls(media_type, url=url)
    return cls(media_type, SAMPLES[media_type])


def _listed(part: ImagePart | FilePart) -> str:
    return f"{part.kind} {part.media_type} {part.url or part.sha256[:12]}"


class PartsTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]

    async def _events(
        self, router: Router, message: str | Sequence[Any], **extra: Any
    ) -> list[Event]:
        raise NotImplementedError

    async def _support(self, router: Router) -> Mapping[str, PartSupport]:
        backend = await router.backend(self.provider)
        support = backend.part_support
        unknown = set(support) - set(_TRIED)
        assert not unknown, f"part_support lists unknown kinds: {sorted(unknown)}"
        return support

    async def _taken(self, router: Router) -> list[ImagePart | FilePart]:
        parts = []
        for kind, support in (await self._support(router)).items():
            tried = [t for t in _TRIED[kind] if t in support.media_types]
            assert tried, f"{self.provider} declares {kind} parts of types the kit cannot send"
            parts.append(_part(kind, tried[0]))
        return parts

    @pytest.mark.asyncio
    async def test_declared_parts_reach_the_model_intact(self, conformance_router: Router) -> None:
        parts = await self._taken(conformance_router)
        if not parts:
            pytest.skip(f"{self.provider} takes no images or files")
        events = await self._events(conformance_router, ["/parts", *parts])
        assert _text(events) == "parts: " + "; ".join(_listed(p) for p in parts), (
            "the model did not receive every part with its bytes intact"
        )
        finished = events[-1]
        assert isinstance(finished, RunFinished)
        later = await self._events(conformance_router, "/parts", session_id=finished.session_id)
        for part in parts:
            assert _listed(part) in _text(later), f"a later turn lost the {part.kind}"

    @pytest.mark.asyncio
    async def test_parts_by_url_reach_the_model(self, conformance_router: Router) -> None:
        support = await self._support(conformance_router)
        parts = [
            _part(kind, next(t for t in _TRIED[kind] if t in s.media_types), url)
            for kind, s in support.items()
            if s.urls
            for url in [f"https://example.com/sample-{kind}"]
        ]
        if not parts:
            pytest.skip(f"{self.provider} takes no part by URL")
        events = await self._events(conformance_router, ["/parts", *parts])
        for part in parts:
            assert part.url is not None and part.url in _text(events)

    @pytest.mark.asyncio
    async def test_parts_a_provider_lacks_are_refused_before_the_run(
        self, conformance_router: Router
    ) -> None:
        support = await self._support(conformance_router)
        untaken = [
            _part(kind, media_type)
            for kind, tried in _TRIED.items()
            for media_type in tried
            if kind not in support or media_type not in support[kind].media_types
        ]
        untaken += [
            _part(kind, next(iter(sorted(s.media_types))), "https://example.com/x")
            for kind, s in support.items()
            if not s.urls and s.media_types
        ]
        if not untaken:
            pytest.skip(f"{self.provider} takes every part the kit sends")
        before = len(await conformance_router.list_sessions())
        for part in untaken:
            with pytest.raises(PartNotTakenError) as refused:
                await self._events(conformance_router, ["look", part])
            assert refused.value.provider == self.provider and refused.value.index == 1
        assert len(await conformance_router.list_sessions()) == before, "nothing half-done"
