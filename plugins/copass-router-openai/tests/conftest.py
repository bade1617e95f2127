"""Fixtures: one emulator for the session (reset per test), routers wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import copass_router_openai
import pytest
from copass_router_openai.agents_emulator import AgentsEmulator
from copass_router_openai.agents_emulator import running_emulator as running_agents_emulator
from copass_router_openai.emulator import OpenAIEmulator, running_emulator

from copass_router import Router

API_KEY = "sk-test-emulator-0123456789"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[OpenAIEmulator]:
    with running_emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def emu(emulator_server: OpenAIEmulator) -> Iterator[OpenAIEmulator]:
    """The emulator with a clean log, no faults and its default behaviour."""
    emulator = emulator_server
    defaults = (
        emulator.api_key,
        emulator.tool_call_style,
        emulator.argument_piece,
        emulator.reasoning_field,
    )
    emulator.reset()
    yield emulator_server
    (
        emulator.api_key,
        emulator.tool_call_style,
        emulator.argument_piece,
        emulator.reasoning_field,
    ) = defaults


@pytest.fixture
def router_with(make_router: Callable[..., Router]) -> Callable[..., Router]:
    """Isolated routers (the core's ``make_router``) with this plugin, beside ``others``."""

    def factory(environ: dict[str, str], *others: object, **kwargs: Any) -> Router:
        return make_router(plugins=[copass_router_openai, *others], environ=environ, **kwargs)

    return factory


@pytest.fixture
def openai_env(emu: OpenAIEmulator) -> dict[str, str]:
    """The environment of a router whose ``openai`` provider is the emulator."""
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": emu.base_url}


@pytest.fixture
def compatible_env(emu: OpenAIEmulator) -> dict[str, str]:
    """The environment of a router whose ``openai-compatible`` provider is the emulator."""
    return {"COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emu.base_url}


@pytest.fixture
def openai_router(router_with: Callable[..., Router], openai_env: dict[str, str]) -> Router:
    """A router whose ``openai`` provider talks to the emulator."""
    return router_with(openai_env)


@pytest.fixture
def compatible_router(
    router_with: Callable[..., Router], emu: OpenAIEmulator, compatible_env: dict[str, str]
) -> Router:
    """A router whose ``openai-compatible`` provider talks to the emulator, keyless."""
    emu.api_key = None
    return router_with(compatible_env)


@pytest.fixture
def api_key() -> str:
    """The key the emulator expects from the ``openai`` provider."""
    return API_KEY


# --- the OpenAI Agents API -----------------------------------------------------------------


@pytest.fixture
def agents_emu() -> Iterator[AgentsEmulator]:
    """A fresh Agents API emulator (the real 60-creates-a-minute limit) for each test."""
    with running_agents_emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def agents_env(agents_emu: AgentsEmulator) -> dict[str, str]:
    """The environment of a router whose ``openai-agents`` provider is the emulator."""
    return {"OPENAI_API_KEY": API_KEY, "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": agents_emu.base_url}


@pytest.fixture
def agents_router(router_with: Callable[..., Router], agents_env: dict[str, str]) -> Router:
    """A router whose ``openai-agents`` provider talks to the emulator."""
    return router_with(agents_env)
