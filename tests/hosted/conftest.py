"""Fixtures for the hosted-mode tests: a real uvicorn server on loopback, in the test's loop.

The server runs as a task of the test's own event loop, so a test can reach into the router
behind it (live runs, the scripted backend's counters) while talking to it over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    TextDelta,
    Turn,
    event_from_json,
    tool,
)
from copass_router.client._remote_router import RemoteRouter
from copass_router.server import HostedState, RunningServer, create_app, start_server
from copass_router.testing import ScriptedBackend, ScriptedPlugin

KEY_ALPHA = "alpha-key-0123456789abcdef"
KEY_BETA = "beta-key-0123456789abcdef"
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
class Hosted:
    """A hosted router under test."""

    router: Router
    server: RunningServer
    state: HostedState
    counter: ToolCounter
    scripted: ScriptedBackend
    deployed: DeployedBackend

    @property
    def url(self) -> str:
        return self.server.base_url

    def remote(self, key: str | None = KEY_ALPHA, **kwargs: Any) -> RemoteRouter:
        return RemoteRouter(self.url, key, **kwargs)

    def http(self, key: str | None = KEY_ALPHA) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


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
        app_kwargs.setdefault("api_keys", [f"alpha:{KEY_ALPHA}", f"beta:{KEY_BETA}"])
        app_kwargs.setdefault("heartbeat", 0.2)
        app = create_app(router, **app_kwargs)
        state: HostedState = app.state.copass_router
        server = await start_server(app, before_shutdown=lambda: state.drain(grace))
        router.dispatch_url = server.base_url + "/v1/dispatch"
        hosted = Hosted(router, server, state, counter, scripted, deployed)
        made.append(hosted)
        return hosted

    yield factory
    for hosted in made:
        await hosted.server.aclose()
        await hosted.router.aclose()


@pytest.fixture
async def hosted(start_hosted: Callable[..., Awaitable[Hosted]]) -> Hosted:
    """A hosted router with two API keys (labels ``alpha`` and ``beta``)."""
    return await start_hosted()


def parse_frames(raw: str) -> list[dict[str, str]]:
    """Split an SSE body into frames (field -> value), comments under ``comment``."""
    frames = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        frame: dict[str, str] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            frame["comment" if field == "" else field] = value.removeprefix(" ")
        frames.append(frame)
    return frames


def frame_events(raw: str) -> list[Event]:
    """The events of an SSE body."""
    return [event_from_json(f["data"]) for f in parse_frames(raw) if "data" in f]


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (fails the test after ``seconds``)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the conditions live in other objects
            await asyncio.sleep(0.01)


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """A problem response's body, checking its media type."""
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == response.status_code
    return body
