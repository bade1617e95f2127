"""The SDK's requests go through the core's event-stream client: a session's event stream,
which the turn stops reading, closes its connection; a response read to its end (an agent's or
a session's creation, a message sent) leaves it for the next request. A proxy in the
environment keeps the SDK's own client (through the proxy).

The emulator is reached through a loopback relay that tells which requests each connection
carried."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import copass_router_anthropic
import pytest
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Router, TextDelta
from copass_router.testing import CutProxy

from .conftest import API_KEY


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy in the process environment (whatever the machine running the tests sets)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


async def two_turns(make_router: Callable[..., Router], base_url: str) -> list[Any]:
    """Two turns of one session (the second in the session the first created)."""
    env = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": base_url}
    router = make_router(plugins=[copass_router_anthropic], environ=env, store=":memory:")
    fields: dict[str, Any] = {"provider": "anthropic", "end_user_id": "u-1"}
    try:
        first = [e async for e in router.run(message="hello", **fields)]
        sid = first[0].session_id
        return first + [e async for e in router.run(message="again", session_id=sid, **fields)]
    finally:
        await router.aclose()


def is_stream(request: str) -> bool:
    return urlsplit(request.partition(" ")[2]).path.endswith("/events/stream")


@pytest.mark.usefixtures("no_proxy_env")
async def test_requests_share_connections_and_a_stream_ends_its_own(
    make_router: Callable[..., Router], emulator: EmulatorServer
) -> None:
    async with CutProxy(emulator.base_url) as relay:
        events = await two_turns(make_router, relay.url)
    assert any(isinstance(e, TextDelta) for e in events)
    # (a connection made ahead for a next request carries none)
    connections = [c for c in relay.requests() if c]
    requests = [r for c in connections for r in c]
    # each turn's event stream is the last request its connection carried
    assert sum(map(is_stream, requests)) == 2, connections
    assert all(not is_stream(r) for c in connections for r in c[:-1]), connections
    # the agent's, the environment's and the session's creation, the messages sent...: read to
    # their end, their connections carried the next request
    assert len(requests) >= 6
    assert len(connections) < len(requests), connections
    # one client: a stream, too, is sent on a connection a request before it left
    assert any(len(c) > 1 and is_stream(c[-1]) for c in connections), connections


async def test_a_proxy_in_the_environment_keeps_the_sdk_client(
    make_router: Callable[..., Router],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with CutProxy(emulator.base_url) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        events = await two_turns(make_router, emulator.base_url)
    assert any(isinstance(e, TextDelta) for e in events)
    through_proxy = [r for c in proxy.requests() for r in c]
    # every request, the streams too, went through the proxy: absolute URLs, as to a proxy
    assert sum(map(is_stream, through_proxy)) == 2, through_proxy
    assert all(r.split(" ", 1)[1].startswith(emulator.base_url) for r in through_proxy)
