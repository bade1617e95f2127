"""Fixtures: the plugin on in-memory SDK providers, and the tool the runs call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from copass_router_otel.testing import InMemoryTelemetry, in_memory

from copass_router import Router, Tool, tool

GOOGLE_PROJECT = "emulated-project"
ANTHROPIC_KEY = "sk-ant-api03-TESTKEY0123456789abcdefABCDEF"


@pytest.fixture
def otel() -> Iterator[InMemoryTelemetry]:
    """The plugin (content capture off, as by default) and what it reported."""
    made = in_memory(capture_content=False)
    yield made
    made.tracer_provider.shutdown()


@pytest.fixture
def make_otel() -> Callable[..., InMemoryTelemetry]:
    """More instances, with other settings."""

    def make(**kwargs: Any) -> InMemoryTelemetry:
        return in_memory(**kwargs)

    return make


@pytest.fixture
def lookup() -> Tool:
    """The tool ``tool_message`` calls."""

    @tool
    def lookup(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    built: Tool = lookup
    return built


@pytest.fixture
def tool_message() -> str:
    """The scripted model's command for one call of ``lookup``."""
    return '/tool lookup {"city": "Paris"}'


@pytest.fixture(scope="session")
def google_emulator() -> Iterator[Any]:
    """The Agent Engine emulator (the real ADK agent runs in it), shared by the session."""
    from copass_router_google.emulator import running_emulator

    with running_emulator() as running:
        yield running


@pytest.fixture
def google_env(google_emulator: Any) -> dict[str, str]:
    """What a router needs to reach the emulator (its request log emptied)."""
    google_emulator.reset()
    return {
        "COPASS_ROUTER_GOOGLE_BASE_URL": google_emulator.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "COPASS_ROUTER_GOOGLE_RETRY_DELAY": "0.01",
        "GOOGLE_CLOUD_PROJECT": GOOGLE_PROJECT,
    }


@pytest.fixture
def deploy_engine(google_emulator: Any) -> Callable[[str | None], str]:
    """``deploy_engine(dispatch_url)``: a deployed agent whose copass_dispatch calls it."""

    def deploy(dispatch_url: str | None) -> str:
        assert dispatch_url
        name: str = google_emulator.add_engine(
            display_name="support-agent",
            system_prompt="You are a support agent.",
            dispatch_url=dispatch_url,
            project=GOOGLE_PROJECT,
        )
        return name

    return deploy


@pytest.fixture
async def google_router(
    make_router: Callable[..., Router], otel: InMemoryTelemetry, google_env: dict[str, str]
) -> AsyncIterator[Router]:
    """The google provider on the emulator, traced by ``otel``, its dispatch endpoint up."""
    import copass_router_google

    router = make_router(plugins=[copass_router_google, otel.plugin], environ=google_env)
    server = await router.start_dispatch_server()
    yield router
    await server.aclose()


@pytest.fixture
def google_engine(deploy_engine: Callable[[str | None], str], google_router: Router) -> str:
    """A deployed agent on the emulator that calls ``google_router`` back."""
    return deploy_engine(google_router.dispatch_url)


@pytest.fixture
def anthropic_env() -> Iterator[dict[str, str]]:
    """What a router needs to reach a fresh Anthropic emulator."""
    from copass_router_anthropic.emulator import running_emulator

    with running_emulator(api_key=ANTHROPIC_KEY) as emu:
        yield {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": emu.base_url}
