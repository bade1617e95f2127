"""Fixtures for the hosted-mode tests: the hosted router of tests/harness.py with the echo
provider, a scripted backend, a deployed agent that calls back, and a counted ``lookup`` tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest

from copass_router import AgentBackend, Event, Message, Router, TextDelta, Turn, tool
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from ..harness import (
    KEY_ALPHA,
    KEY_BETA,
    HostedRouter,
    frame_events,
    parse_frames,
    problem_of,
    start_hosted_router,
    wait_until,
)

__all__ = [  # what the hosted tests import from here
    "KEY_ALPHA",
    "KEY_BETA",
    "Hosted",
    "ToolCounter",
    "frame_events",
    "make_router",
    "parse_frames",
    "problem_of",
    "wait_until",
]

SECRET = b"hosted-test-dispatch-secret"


class ToolCounter:
    """How many times each tool actually ran."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def make_tool(self) -> Any:
        counter = self

        @tool
        async def lookup(city: str) -> str:
            """Look up the weather in a city."""
            counter.calls.append({"city": city})
            await asyncio.sleep(0.01)
            return f"sunny in {city}"

        return lookup


class DeployedBackend(AgentBackend):
    """Plays a deployed agent (like an Agent Engine one): its tools run by calling back.

    ``/callback CITY`` posts ``lookup`` to the router's dispatch endpoint with the run's token,
    exactly as the copass_dispatch proxy does, and replies with what came back. ``/hold`` keeps
    the run live until ``release`` is set, so a test can call the endpoint itself meanwhile.
    """

    default_model = "deployed-1"

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.live = asyncio.Event()
        self.release = asyncio.Event()

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        self.turns.append(turn)
        self.live.set()
        command, _, rest = turn.message.partition(" ")
        if command == "/hold":
            yield TextDelta(text="holding")
            async for event in turn.merge(_wait(self.release)):
                yield event
            return
        if command == "/callback":
            async for item in turn.merge(_call_back(turn, rest)):
                if isinstance(item, Event):
                    yield item
                else:
                    yield Message(text=str(item["output"]))
            return
        yield Message(text=f"deployed: {turn.message}")


async def _wait(event: asyncio.Event) -> AsyncIterator[Any]:
    await event.wait()
    return
    yield  # an async generator that yields nothing


async def _call_back(turn: Turn, city: str) -> AsyncIterator[Any]:
    assert turn.dispatch_url, "the router has no dispatch_url"
    async with httpx.AsyncClient() as http:
        response = await http.post(
            turn.dispatch_url,
            json={
                "token": turn.dispatch_token,
                "tool_name": "lookup",
                "arguments": {"city": city},
                "call_id": "agent-call-1",
            },
        )
    response.raise_for_status()
    yield response.json()


@attrs.define
class Hosted(HostedRouter):
    """A hosted router under test, and the tool and backends behind it."""

    counter: ToolCounter
    scripted: ScriptedBackend
    deployed: DeployedBackend


def make_router(counter: ToolCounter, *plugins: Any) -> Router:
    """An isolated router: echo, the given plugins, the ``lookup`` tool, a known secret."""
    return Router(
        store=":memory:",
        load_entry_points=False,
        environ={},
        plugins=plugins,
        tools=[counter.make_tool()],
        dispatch_secret=SECRET,
    )


@pytest.fixture
async def start_hosted() -> AsyncIterator[Callable[..., Awaitable[Hosted]]]:
    """A factory of hosted routers (``grace`` at shutdown; ``create_app`` keywords pass on)."""
    made: list[Hosted] = []

    async def factory(grace: float = 0.5, **app_kwargs: Any) -> Hosted:
        counter, scripted, deployed = ToolCounter(), ScriptedBackend(), DeployedBackend()
        router = make_router(counter, ScriptedPlugin(scripted=scripted, deployed=deployed))
        app_kwargs.setdefault("heartbeat", 0.2)
        server, state = await start_hosted_router(router, grace=grace, **app_kwargs)
        hosted = Hosted(router, server, state, counter, scripted, deployed)
        made.append(hosted)
        return hosted

    yield factory
    for hosted in made:
        await hosted.aclose()


@pytest.fixture
async def hosted(start_hosted: Callable[..., Awaitable[Hosted]]) -> Hosted:
    """A hosted router with two API keys (labels ``alpha`` and ``beta``)."""
    return await start_hosted()
