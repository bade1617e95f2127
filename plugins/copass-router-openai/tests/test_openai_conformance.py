"""The core's backend conformance suite, for both providers, against the emulator."""

from __future__ import annotations

from collections.abc import Callable

import copass_router_openai
import pytest
from copass_router_openai.emulator import OpenAIEmulator

from copass_router import Router
from copass_router.testing import BackendConformance, KitProbe


class TestOpenAIConformance(BackendConformance):
    provider = "openai"
    model = "gpt-4o-mini"

    @pytest.fixture
    def conformance_emulator(self, emu: OpenAIEmulator) -> KitProbe:
        return KitProbe(emu)

    @pytest.fixture
    def conformance_router(
        self, make_router: Callable[..., Router], openai_env: dict[str, str]
    ) -> Router:
        return make_router(plugins=[copass_router_openai], environ=openai_env)


class TestOpenAICompatibleConformance(BackendConformance):
    provider = "openai-compatible"

    @pytest.fixture
    def conformance_emulator(self, emu: OpenAIEmulator) -> KitProbe:
        return KitProbe(emu)

    @pytest.fixture
    def conformance_router(
        self,
        make_router: Callable[..., Router],
        emu: OpenAIEmulator,
        compatible_env: dict[str, str],
    ) -> Router:
        emu.api_key = None
        return make_router(plugins=[copass_router_openai], environ=compatible_env)
