"""Part URLs: sent as URLs by default; fetched by the router only from hosts the operator
allows, then kept as bytes like any part."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from copass_router import (
    ImagePart,
    InvalidRequestError,
    Message,
    PartNotTakenError,
    PartPolicy,
    PayloadTooLargeError,
)
from copass_router.testing import SAMPLE_PNG, LoopbackServer, ScriptedBackend, ScriptedPlugin


class Served:
    def __init__(self) -> None:
        self.hits = 0

    async def png(self, request: Any) -> Response:
        self.hits += 1
        return Response(SAMPLE_PNG, media_type="image/png")

    async def text(self, request: Any) -> Response:
        return Response("not an image", media_type="text/html")

    async def big(self, request: Any) -> Response:
        return Response(SAMPLE_PNG + bytes(4096), media_type="image/png")

    async def moved(self, request: Any) -> Response:
        return RedirectResponse("https://elsewhere.test/a.png")


@pytest.fixture
def served() -> Iterator[tuple[Served, str]]:
    site = Served()
    app = Starlette(
        routes=[
            Route("/a.png", site.png),
            Route("/page", site.text),
            Route("/big.png", site.big),
            Route("/moved.png", site.moved),
        ]
    )
    with LoopbackServer(app, name="part-host") as server:
        yield site, server.base_url


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_urls_are_not_fetched_unless_the_operator_allows_the_host(
    make_router: Any, served: tuple[Served, str]
) -> None:
    site, base = served
    router = make_router(plugins=[ScriptedPlugin(scripted=ScriptedBackend())])
    url = f"{base}/a.png"
    events = [
        e
        async for e in router.run(
            provider="echo", message=["/parts", ImagePart("image/png", url=url)]
        )
    ]
    assert _text(events) == f"parts: image image/png {url}" and site.hits == 0
    with pytest.raises(PartNotTakenError, match="by URL"):
        await router.complete(provider="scripted", message=["x", ImagePart("image/png", url=url)])


async def test_an_allowed_host_is_fetched_once_and_kept_as_bytes(
    make_router: Any, served: tuple[Served, str]
) -> None:
    site, base = served
    host = base.removeprefix("http://")
    router = make_router(part_policy=PartPolicy(url_hosts=[host]))
    url = f"{base}/a.png"
    first = await router.complete(
        provider="echo", message=["/parts", ImagePart("image/png", url=url)]
    )
    sha = ImagePart("image/png", SAMPLE_PNG).sha256
    assert first.text == f"parts: image image/png {sha[:12]}" and site.hits == 1
    later = await router.complete(provider="echo", message="/parts", session_id=first.session_id)
    assert later.text == first.text and site.hits == 1
    [turn, _] = await router.transcript(first.session_id, "local")
    assert turn.parts[1].sha256 == sha and turn.parts[1].url is None


@pytest.mark.parametrize(
    ("path", "error", "words"),
    [
        ("/missing.png", InvalidRequestError, "answered 404"),
        ("/page", InvalidRequestError, "the server says it is text/html"),
        ("/moved.png", InvalidRequestError, "answered 307"),
        ("/big.png", PayloadTooLargeError, "is over 1000 bytes"),
    ],
)
async def test_a_fetch_that_fails_refuses_the_run_naming_the_part(
    make_router: Any, served: tuple[Served, str], path: str, error: type, words: str
) -> None:
    _, base = served
    router = make_router(part_policy=PartPolicy(url_hosts=[base.removeprefix("http://")]))
    router.parts.fetching = router.parts.fetching.__class__(
        router.parts.fetching.hosts, max_bytes=1000
    )
    with pytest.raises(error, match=words) as refused:
        await router.complete(
            provider="echo", message=["x", ImagePart("image/png", url=base + path)]
        )
    assert "message[1] (image" in str(refused.value)
    assert await router.list_sessions() == []


def test_the_environment_sets_the_policy() -> None:
    policy = PartPolicy.from_environ(
        {
            "COPASS_ROUTER_PART_URL_HOSTS": "cdn.example.com, *.shop.test",
            "COPASS_ROUTER_PART_QUOTA": "5",
        }
    )
    assert policy.end_user_bytes == 5 and policy.url_hosts == {"cdn.example.com", "*.shop.test"}
    from copass_router.content._fetch import PartFetching

    fetching = PartFetching(policy.url_hosts)
    assert fetching.allows("https://cdn.example.com/a.png")
    assert fetching.allows("https://img.shop.test/a.png")
    assert not fetching.allows("https://shop.test.evil.example/a.png")
    assert not fetching.allows("file:///etc/passwd")
