"""Fixtures for the security tests: a real uvicorn server on loopback, in the test's
loop, with the echo provider, a scripted backend and a backend that counts what it produced.

Each test module checks one kind of attack; the server here is the one ``serve`` runs
(``start_server`` with the same uvicorn settings), so connection limits apply as in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest

from copass_router import AgentBackend, Event, Router, TextDelta, Turn, Usage
from copass_router.server import HostedState, RunningServer, create_app, start_server
from copass_router.serving._connections import ConnectionLimits
from copass_router.testing import ScriptedBackend, ScriptedPlugin

KEY_ALPHA = "alpha-key-0123456789abcdef"
KEY_BETA = "beta-key-0123456789abcdef"
SECRET = b"security-test-dispatch-secret"


class FloodBackend(AgentBackend):
    """Yields ``count`` TextDeltas of ``size`` characters without ever waiting, and counts them:
    a backend whose whole output is already in memory (the worst case for a server). Then the
    request's usage (one event more)."""

    default_model = "flood-1"

    def __init__(self) -> None:
        self.produced = 0
        self.count = 1000
        self.size = 10

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        text = "x" * self.size
        for _ in range(self.count):
            self.produced += 1
            yield TextDelta(text=text)
        yield Usage(input_tokens=1, output_tokens=self.count)


@attrs.define
class Served:
    """A hosted router under test."""

    router: Router
    server: RunningServer
    state: HostedState
    scripted: ScriptedBackend
    flood: FloodBackend

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def port(self) -> int:
        return self.server.port

    def http(self, key: str | None = KEY_ALPHA, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 10)
        return httpx.AsyncClient(base_url=self.url, headers=headers, **kwargs)


def make_router(*plugins: Any, environ: dict[str, str] | None = None, **kwargs: Any) -> Router:
    """An isolated router: echo plus the given plugins, a known dispatch secret."""
    kwargs.setdefault("store", ":memory:")
    return Router(
        load_entry_points=False,
        environ=environ or {},
        plugins=plugins,
        dispatch_secret=SECRET,
        **kwargs,
    )


@pytest.fixture
async def serve_router() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """A factory of hosted routers. ``limits`` are the connection limits; ``router_kwargs`` go
    to the Router; other keywords to ``create_app`` (API keys alpha and beta by default)."""
    made: list[Served] = []

    async def factory(
        limits: ConnectionLimits | None = None,
        router_kwargs: dict[str, Any] | None = None,
        **app_kwargs: Any,
    ) -> Served:
        scripted, flood = ScriptedBackend(), FloodBackend()
        router = make_router(
            ScriptedPlugin(scripted=scripted, flood=flood), **(router_kwargs or {})
        )
        app_kwargs.setdefault("api_keys", [f"alpha:{KEY_ALPHA}", f"beta:{KEY_BETA}"])
        app_kwargs.setdefault("heartbeat", 0.5)
        app = create_app(router, **app_kwargs)
        state: HostedState = app.state.copass_router
        server = await start_server(app, limits=limits, before_shutdown=lambda: state.drain(0.5))
        router.dispatch_url = server.base_url + "/v1/dispatch"
        served = Served(router, server, state, scripted, flood)
        made.append(served)
        return served

    yield factory
    for served in made:
        await served.server.aclose()
        await served.router.aclose()


@pytest.fixture
async def served(serve_router: Callable[..., Awaitable[Served]]) -> Served:
    """A hosted router with two API keys and the default limits."""
    return await serve_router()


def sse_events(raw: str) -> list[dict[str, Any]]:
    """The ``data`` of every frame of an SSE body, as dicts."""
    events = []
    for block in raw.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """A problem response's body, checking its media type."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == response.status_code
    return body


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (fails the test after ``seconds``)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the conditions live in other objects
            await asyncio.sleep(0.01)
