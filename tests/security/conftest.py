"""Fixtures for the security tests: the hosted router of tests/harness.py with the echo
provider, a scripted backend and a backend that counts what it produced.

Each test module checks one kind of attack; the server is the one ``serve`` runs
(``start_server`` with the same uvicorn settings), so connection limits apply as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest

from copass_router import AgentBackend, Event, Router, TextDelta, Turn, Usage
from copass_router.serving._connections import ConnectionLimits
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from ..harness import (
    KEY_ALPHA,
    KEY_BETA,
    HostedRouter,
    problem_of,
    sse_events,
    start_hosted_router,
    wait_until,
)

__all__ = [  # what the security tests import from here
    "KEY_ALPHA",
    "KEY_BETA",
    "Served",
    "make_router",
    "problem_of",
    "sse_events",
    "wait_until",
]

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
class Served(HostedRouter):
    """A hosted router under test, and the backends behind it."""

    scripted: ScriptedBackend
    flood: FloodBackend


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
        server, state = await start_hosted_router(router, limits=limits, **app_kwargs)
        served = Served(router, server, state, scripted, flood)
        made.append(served)
        return served

    yield factory
    for served in made:
        await served.aclose()


@pytest.fixture
async def served(serve_router: Callable[..., Awaitable[Served]]) -> Served:
    """A hosted router with two API keys and the default limits."""
    return await serve_router()
