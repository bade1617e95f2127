"""Fixtures: an emulator on a loopback port and routers wired to it through the real SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import copass_router_anthropic
import pytest
from copass_router_anthropic.emulator import EmulatorServer, running_emulator

from copass_router import Router

#: Looks like a real key, so tests can check it never leaks into errors or logs.
API_KEY = "sk-ant-api03-TESTKEY0123456789abcdefABCDEF"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator (the real 60-creates-a-minute limit) for each test."""
    with running_emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def make_anthropic_router(
    make_router: Callable[..., Router], emulator: EmulatorServer
) -> Callable[..., Router]:
    """Routers whose ``anthropic`` provider talks to ``emulator``; keywords extend the environ."""

    def factory(store: Any = ":memory:", **environ: str) -> Router:
        env = {
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": emulator.base_url,
            **environ,
        }
        return make_router(plugins=[copass_router_anthropic], environ=env, store=store)

    return factory


@pytest.fixture
def anthropic_router(make_anthropic_router: Callable[..., Router]) -> Router:
    """A router with the anthropic provider pointed at the emulator."""
    return make_anthropic_router()
