"""The SDK's requests go through the core's event-stream client: a stream the turn stops
reading closes its connection, a response read to its end leaves it for the next request. A
proxy in the environment keeps the SDK's client (through the proxy).

The emulator is reached through a loopback relay that tells which requests each connection
carried."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from copass_router_openai.emulator import OpenAIEmulator
from copass_router_openai.emulator.agents import AgentsEmulator

from copass_router import Router, TextDelta, tool
from copass_router.testing import CutProxy

from .conftest import API_KEY


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy in the process environment (whatever the machine running the tests sets)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


async def agents_turns(router: Router) -> list[Any]:
    """Two turns of one session: a new session streamed from its creation (with a tool round
    trip), then a known one subscribed to and given the message."""
    fields: dict[str, Any] = {"provider": "openai-agents", "end_user_id": "u-1"}
    first = [e async for e in router.run(message='/tool lookup {"key": "k"}', **fields)]
    sid = first[0].session_id
    second = [e async for e in router.run(message="again", session_id=sid, **fields)]
    return first + second


def is_agents_stream(request: str) -> bool:
    method, _, target = request.partition(" ")
    path = urlsplit(target).path
    return (method, path.rsplit("/", 1)[-1]) in {("POST", "sessions"), ("GET", "events")}


@pytest.mark.usefixtures("no_proxy_env")
async def test_agents_requests_share_connections_and_a_stream_ends_its_own(
    router_with: Callable[..., Router], agents_emu: AgentsEmulator
) -> None:
    async with CutProxy(agents_emu.base_url) as relay:
        router = router_with(
            {
                "OPENAI_API_KEY": API_KEY,
                "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": relay.url + "/v1",
            },
            tools=[lookup],
        )
        events = await agents_turns(router)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    # (a connection made ahead for a next request carries none)
    connections = [c for c in relay.requests() if c]
    requests = [r for c in connections for r in c]
    # the session's creation (streamed) and the second turn's subscription: each the last
    # request its connection carried (the turn stopped reading it)
    assert sum(map(is_agents_stream, requests)) == 2, connections
    assert all(not is_agents_stream(r) for c in connections for r in c[:-1]), connections
    # the agent's creation, the tool's answer, the second message... read to their end: their
    # connections carried the next request
    assert len(requests) >= 5
    assert len(connections) < len(requests), connections
    # one client: a stream, too, is sent on a connection a request before it left
    assert any(len(c) > 1 and is_agents_stream(c[-1]) for c in connections), connections


async def test_a_proxy_in_the_environment_keeps_the_sdk_client_for_agents_streams(
    router_with: Callable[..., Router],
    agents_emu: AgentsEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with CutProxy(agents_emu.base_url) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        router = router_with(
            {
                "OPENAI_API_KEY": API_KEY,
                "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": agents_emu.base_url,
            },
            tools=[lookup],
        )
        events = await agents_turns(router)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    through_proxy = [r for c in proxy.requests() for r in c]
    # every request, the streams too, went through the proxy: absolute URLs, as to a proxy
    assert [r for r in through_proxy if is_agents_stream(r)], through_proxy
    assert all(r.split(" ", 1)[1].startswith(agents_emu.base_url) for r in through_proxy)
    assert len(through_proxy) == len(agents_emu.requests)


# --- Chat Completions: every request is a stream ----------------------------------------------


def chat_env(provider: str, base_url: str) -> dict[str, str]:
    if provider == "openai":
        return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url}
    return {"COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": base_url}


async def chat_turn(router: Router, provider: str) -> list[Any]:
    """A turn with a tool round trip: two streamed chat completions."""
    run = router.run(provider=provider, message='/tool lookup {"key": "k"}', end_user_id="u-1")
    return [e async for e in run]


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("provider", ["openai", "openai-compatible"])
async def test_chat_completions_stream_through_the_stream_client(
    provider: str, router_with: Callable[..., Router], emu: OpenAIEmulator
) -> None:
    emu.api_key = API_KEY if provider == "openai" else None
    async with CutProxy(emu.base_url) as relay:
        router = router_with(chat_env(provider, relay.url + "/v1"), tools=[lookup])
        events = await chat_turn(router, provider)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    # Both completions on the stream client's connection: the first, read to its end, leaves
    # it for the second (a connection made ahead for a next stream carries no request).
    assert [c for c in relay.requests() if c] == [["POST /v1/chat/completions"] * 2]


@pytest.mark.parametrize("provider", ["openai", "openai-compatible"])
async def test_a_proxy_in_the_environment_keeps_the_sdk_client_for_chat_completions(
    provider: str,
    router_with: Callable[..., Router],
    emu: OpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu.api_key = API_KEY if provider == "openai" else None
    async with CutProxy(emu.base_url) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        router = router_with(chat_env(provider, emu.base_url), tools=[lookup])
        events = await chat_turn(router, provider)
        await router.aclose()
    assert any(isinstance(e, TextDelta) for e in events)
    # both requests through the proxy (absolute URLs, as to a proxy), on its pooled connection
    assert proxy.requests() == [[f"POST {emu.base_url}/chat/completions"] * 2]
