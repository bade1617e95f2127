"""The documented example provider passes the core's conformance kit, against its emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import copass_router_acme
import pytest
from copass_router_acme.emulator import AcmeEmulator, running_emulator

from copass_router import Router
from copass_router.testing import BackendConformance, KitProbe


@pytest.fixture(scope="module")
def acme_emulator() -> Iterator[AcmeEmulator]:
    with running_emulator() as emulator:
        yield emulator


class TestAcmeConformance(BackendConformance):
    provider = "acme"

    @pytest.fixture
    def conformance_router(
        self, make_router: Callable[..., Router], acme_emulator: AcmeEmulator
    ) -> Router:
        acme_emulator.kit.reset()
        env = {"ACME_BASE_URL": acme_emulator.base_url, "ACME_API_KEY": "acme-test-key"}
        return make_router(plugins=[copass_router_acme], environ=env)

    @pytest.fixture
    def conformance_emulator(self, acme_emulator: AcmeEmulator) -> KitProbe:
        return KitProbe(acme_emulator)


async def test_acme_fields_and_options_reach_acme(
    make_router: Callable[..., Router], acme_emulator: AcmeEmulator
) -> None:
    acme_emulator.kit.reset()
    env = {"ACME_BASE_URL": acme_emulator.base_url, "ACME_API_KEY": "acme-test-key"}
    router = make_router(plugins=[copass_router_acme], environ=env)
    await router.complete(
        provider="acme", message="hi", workspace="ws-7", options={"safe_mode": True}
    )
    assert acme_emulator.requests[-1].body["workspace"] == "ws-7"
    assert acme_emulator.requests[-1].body["safe_mode"] is True
