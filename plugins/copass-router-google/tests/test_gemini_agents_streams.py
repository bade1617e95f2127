"""``gemini-agents`` creates its interactions (streamed) through the core's event-stream
client, each on a connection of its own; every other request stays on the SDK's pooled client.
A proxy in the environment keeps the SDK's client for the streams too (through the proxy).

The emulator is reached through a loopback relay that tells which requests each connection
carried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import copass_router_google
import pytest

from copass_router import Router, TextDelta, tool
from copass_router.testing import CutProxy

from .conftest import GEMINI_KEY

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


def clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def turns(router: Router) -> list[Any]:
    """A turn with a tool round trip (two interactions), its session deleted (requests that
    are not streams), then a turn in a new session."""
    fields: dict[str, Any] = {"provider": "gemini-agents", "end_user_id": "u-1"}
    first = [e async for e in router.run(message='/tool lookup {"key": "k"}', **fields)]
    await router.delete_session(first[0].session_id, "u-1")
    return first + [e async for e in router.run(message="again", **fields)]


def is_create(request: str) -> bool:
    method, _, target = request.partition(" ")
    return method == "POST" and urlsplit(target).path.endswith("/interactions")


async def test_interactions_stream_through_the_stream_client(
    make_router: Callable[..., Router], interactions_emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_proxies(monkeypatch)
    async with CutProxy(interactions_emu.base_url) as relay:
        router = make_router(
            plugins=[copass_router_google],
            environ={"GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": relay.url},
            tools=[lookup],
        )
        events = await turns(router)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    # The streamed creates go on the stream client's connections, which carry nothing else
    # (one read to its end serves the next; one made ahead may carry none); the deletes go
    # through the SDK's pooled client.
    connections = [c for c in relay.requests() if c]
    creates = [c for c in connections if any(is_create(r) for r in c)]
    assert sum(len(c) for c in creates) == 3, connections
    assert all(is_create(r) for c in creates for r in c), connections
    others = [r for c in connections if c not in creates for r in c]
    assert others and not any(is_create(r) for r in others)  # the deletes, pooled


async def test_a_proxy_in_the_environment_keeps_the_sdk_client_for_interaction_streams(
    make_router: Callable[..., Router], interactions_emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_proxies(monkeypatch)
    async with CutProxy(interactions_emu.base_url) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        router = make_router(
            plugins=[copass_router_google],
            environ={"GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": interactions_emu.base_url},
            tools=[lookup],
        )
        events = await turns(router)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    through_proxy = [r for c in proxy.requests() for r in c]
    # every request, the streams too, went through the proxy: absolute URLs, as to a proxy
    assert len([r for r in through_proxy if is_create(r)]) == 3, through_proxy
    base = interactions_emu.base_url.rstrip("/")
    assert all(r.split(" ", 1)[1].startswith(base) for r in through_proxy)
    assert len(through_proxy) == len(interactions_emu.requests)
