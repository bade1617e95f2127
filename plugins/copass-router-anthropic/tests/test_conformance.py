"""The core's backend conformance suite, run against the emulator through the real SDK."""

from __future__ import annotations

import pytest
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Router, StopReason
from copass_router.testing import BackendConformance, KitProbe


class TestAnthropicConformance(BackendConformance):
    provider = "anthropic"
    model = "claude-sonnet-4-6"
    unsupported_stop_reasons = {
        StopReason.MAX_TOKENS: "a managed agent goes on past an output limit; its idle "
        "stop reasons have no max_tokens"
    }

    @pytest.fixture
    def conformance_emulator(self, emulator: EmulatorServer) -> KitProbe:
        return KitProbe(emulator)

    @pytest.fixture
    def conformance_router(self, anthropic_router: Router) -> Router:
        return anthropic_router
