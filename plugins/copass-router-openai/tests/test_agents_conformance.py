"""The core's backend conformance suite on ``openai-agents``, against its emulator."""

from __future__ import annotations

from collections.abc import Callable

import copass_router_openai
import pytest
from copass_router_openai.agents_emulator import AgentsEmulator

from copass_router import Router
from copass_router.testing import BackendConformance, KitProbe


class TestOpenAIAgentsConformance(BackendConformance):
    provider = "openai-agents"
    model = "gpt-4.1"
    alternate_model = "gpt-4o-mini"

    @pytest.fixture
    def conformance_emulator(self, agents_emu: AgentsEmulator) -> KitProbe:
        return KitProbe(agents_emu)

    @pytest.fixture
    def conformance_router(
        self, make_router: Callable[..., Router], agents_env: dict[str, str]
    ) -> Router:
        return make_router(plugins=[copass_router_openai], environ=agents_env)
