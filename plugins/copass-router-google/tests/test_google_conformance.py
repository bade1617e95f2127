"""The core's backend conformance suite, run on the google backend against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_google.emulator import GoogleEmulator

from copass_router import Router
from copass_router.testing import BackendConformance, KitProbe


class TestGoogleConformance(BackendConformance):
    provider = "google"
    engine_name = ""

    @pytest.fixture
    def conformance_emulator(self, fresh_emulator: GoogleEmulator) -> KitProbe:
        return KitProbe(fresh_emulator)

    @pytest.fixture
    def conformance_router(self, google_router: Router, engine: str) -> Router:
        type(self).engine_name = engine
        return google_router

    def run_kwargs(self) -> dict[str, Any]:
        return {"reasoning_engine_id": self.engine_name}
