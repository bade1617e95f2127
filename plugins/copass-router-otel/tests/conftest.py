"""Fixtures: the plugin on in-memory SDK providers, and the tool the runs call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from copass_router_otel.testing import InMemoryTelemetry, in_memory

from copass_router import Tool, tool


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
