"""Shared fixtures: one emulator for the whole run (ADK imports are slow), routers per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import copass_router_google
import pytest
from copass_router_google.emulator import GoogleEmulator, running_emulator

from copass_router import Event, Router

PROJECT = "emulated-project"


@pytest.fixture(scope="session")
def emulator() -> Iterator[GoogleEmulator]:
    """The Agent Engine emulator, shared by every test."""
    with running_emulator() as running:
        yield running


@pytest.fixture
def fresh_emulator(emulator: GoogleEmulator) -> GoogleEmulator:
    """The shared emulator with an empty request log and no pending faults."""
    emulator.reset()
    return emulator


def google_environ(emulator: GoogleEmulator) -> dict[str, str]:
    """What a router needs to reach the emulator."""
    return {
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulator.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "COPASS_ROUTER_GOOGLE_RETRY_DELAY": "0.01",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }


@pytest.fixture
async def google_router(
    make_router: Callable[..., Router], fresh_emulator: GoogleEmulator
) -> AsyncIterator[Router]:
    """A router with the google provider pointed at the emulator, its dispatch endpoint up."""
    router = make_router(plugins=[copass_router_google], environ=google_environ(fresh_emulator))
    server = await router.start_dispatch_server()
    yield router
    await server.aclose()


@pytest.fixture
def engine(google_router: Router, fresh_emulator: GoogleEmulator) -> str:
    """A deployed agent whose copass_dispatch calls ``google_router``'s dispatch endpoint."""
    assert google_router.dispatch_url
    return fresh_emulator.add_engine(
        display_name="support-agent",
        system_prompt="You are a support agent.",
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
    )


RunGoogle = Callable[..., Any]


@pytest.fixture
def run_google(google_router: Router, engine: str) -> RunGoogle:
    """``await run_google(message, **fields)``: one turn on ``engine``, its events as a list."""

    async def run(message: str, **extra: Any) -> list[Event]:
        fields: dict[str, Any] = {
            "provider": "google",
            "reasoning_engine_id": engine,
            "message": message,
            **extra,
        }
        return [e async for e in google_router.run(**fields)]

    return run


# --- gemini-agents: the Interactions API emulator ---------------------------------------------

GEMINI_KEY = "gemini-test-key-0123456789"


@pytest.fixture(scope="session")
def interactions_server() -> Iterator[Any]:
    """The Interactions API emulator, shared by every test."""
    from copass_router_google.interactions_emulator import running_emulator as running

    with running(api_key=GEMINI_KEY) as emu:
        yield emu


@pytest.fixture
def interactions_emu(interactions_server: Any) -> Any:
    """The shared Interactions emulator with no interactions, log or faults."""
    interactions_server.reset()
    return interactions_server


@pytest.fixture
def gemini_env(interactions_emu: Any) -> dict[str, str]:
    """The environment of a router whose ``gemini-agents`` provider is the emulator."""
    return {"GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": interactions_emu.base_url}


@pytest.fixture
def gemini_router(make_router: Callable[..., Router], gemini_env: dict[str, str]) -> Router:
    """A router whose ``gemini-agents`` provider talks to the emulator."""
    return make_router(plugins=[copass_router_google], environ=gemini_env)
