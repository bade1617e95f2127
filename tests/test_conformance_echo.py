"""The built-in echo backend passes the backend conformance suite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from copass_router import Router
from copass_router.testing import BackendConformance


class TestEchoConformance(BackendConformance):
    provider = "echo"

    @pytest.fixture
    def conformance_router(self, make_router: Callable[..., Router]) -> Router:
        return make_router()

    @pytest.fixture
    def conformance_emulator(self) -> None:
        return None  # echo runs in-process: no HTTP API to refuse or cut
