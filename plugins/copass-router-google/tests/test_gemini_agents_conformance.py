"""The core's backend conformance suite on ``gemini-agents``, against the Interactions emulator."""

from __future__ import annotations

from typing import Any

import pytest

from copass_router import Router, StopReason
from copass_router.testing import BackendConformance, KitProbe


class TestGeminiAgentsConformance(BackendConformance):
    provider = "gemini-agents"
    model = "gemini-2.5-flash"
    alternate_model = "gemini-2.5-pro"
    unsupported_stop_reasons = {
        StopReason.REFUSAL: "an interaction's statuses (completed, incomplete, failed, "
        "cancelled, budget_exceeded, requires_action) have no refusal"
    }

    @pytest.fixture
    def conformance_emulator(self, interactions_emu: Any) -> KitProbe:
        return KitProbe(interactions_emu)

    @pytest.fixture
    def conformance_router(self, gemini_router: Router) -> Router:
        # The plugin's other provider (``google``) takes reasoning_engine_id and location;
        # without it, the kit can check that a field no installed provider uses is refused.
        gemini_router.plugins.load()
        del gemini_router.plugins.backends["google"]
        return gemini_router
