"""The conformance kit fails a backend that breaks the contract, each way it can be broken.

Each broken backend is the documented example provider (copass-router-acme) with one defect.
The kit runs on it in a throwaway project, as a plugin author would run it; the test the defect
breaks must fail there, and the ones it does not break must still pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = '''
import asyncio
import copass_router_acme
import pytest
from copass_router_acme.backend import AcmeBackend
from copass_router_acme.emulator import running_emulator

from copass_router import PartSupport, Router, StopReason, TextDelta
from copass_router.testing import BackendConformance, KitProbe


class ForgetfulBackend(AcmeBackend):
    """Sends the model only the first user message of the history and the new one."""

    def build_request(self, turn, messages):
        users = [m for m in messages if m.role == "user"]
        return super().build_request(turn, [users[0], messages[-1]] if len(users) > 1 else messages)


class RawErrorBackend(AcmeBackend):
    """Raises a bare RuntimeError on a refused request instead of a neutral error."""

    def error_code(self, status, body):
        raise RuntimeError(f"acme said {status}")


class LeakyBackend(AcmeBackend):
    """Keeps reading the provider's stream in the background when the consumer leaves."""

    def run_turn(self, turn):
        queue = asyncio.Queue()
        source = super().run_turn(turn)

        async def pump():
            async for event in source:
                await queue.put(event)
            await queue.put(None)

        self.pump = asyncio.ensure_future(pump())

        async def events():
            while (event := await queue.get()) is not None:
                yield event

        return events()


class UncappedBackend(AcmeBackend):
    """Counts tool rounds itself, resetting the core's count."""

    def run_turn(self, turn):
        original = turn.dispatch

        def dispatch(calls, **kw):
            turn.tool_rounds = 0
            return original(calls, **kw)

        turn.dispatch = dispatch
        return super().run_turn(turn)


class ModelIgnoringBackend(AcmeBackend):
    """Sends its default model whatever the run asks for."""

    def build_request(self, turn, messages):
        request = super().build_request(turn, messages)
        return type(request)(request.path, {**request.body, "model": self.default_model})


class LateTextBackend(AcmeBackend):
    """Says one more thing after the model stopped (after the request's usage)."""

    def run_turn(self, turn):
        async def events():
            async for event in AcmeBackend.run_turn(self, turn):
                yield event
            yield TextDelta(text=" (one more thing)")

        return events()


class FlatStopsBackend(AcmeBackend):
    """Reports every stop of the model as end_turn (refusal and max_tokens lost)."""

    def read_chunk(self, chunk):
        for piece in super().read_chunk(chunk):
            ended = isinstance(piece, StopReason) and piece is not StopReason.ERROR
            yield StopReason.END_TURN if ended else piece


class NoStopBackend(AcmeBackend):
    """Never maps the provider's end marker to a stop reason."""

    def read_chunk(self, chunk):
        for piece in super().read_chunk(chunk):
            if not isinstance(piece, StopReason):
                yield piece


class SamplingDroppingBackend(AcmeBackend):
    """Lists temperature and max_output_tokens as taken but never sends them."""

    def build_request(self, turn, messages):
        request = super().build_request(turn, messages)
        body = {k: v for k, v in request.body.items() if k not in ("temperature", "max_tokens")}
        return type(request)(request.path, body)


class PartsClaimingBackend(AcmeBackend):
    """Claims PNG images, which Acme's request (text only) never carries."""

    part_support = {"image": PartSupport({"image/png"})}


class StopClaimingBackend(AcmeBackend):
    """Claims stop sequences, which Acme has no way to send."""

    generation_settings = frozenset({"temperature", "max_output_tokens", "stop"})


def misspelt_plugin():
    class Plugin:
        @staticmethod
        @copass_router_acme.hookimpl
        def copass_router_register_backends(register):
            register("acme", "copass_router_acme.backend:make_backnd")

    return Plugin()


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as emulator:
        yield emulator


def plugin_for(backend):
    class Plugin:
        @staticmethod
        @copass_router_acme.hookimpl
        def copass_router_register_backends(register):
            register("acme", backend)

    return Plugin()


class Base(BackendConformance):
    provider = "acme"
    broken = AcmeBackend

    @pytest.fixture
    def conformance_router(self, make_router, emulator):
        emulator.kit.reset()
        env = {"ACME_BASE_URL": emulator.base_url, "ACME_API_KEY": "k"}
        return make_router(plugins=[plugin_for(self.broken)], environ=env)

    @pytest.fixture
    def conformance_emulator(self, emulator):
        return KitProbe(emulator)


class TestForgetful(Base):
    broken = ForgetfulBackend


class TestRawError(Base):
    broken = RawErrorBackend


class TestLeaky(Base):
    broken = LeakyBackend


class TestUncapped(Base):
    broken = UncappedBackend


class TestModelIgnoring(Base):
    broken = ModelIgnoringBackend


class TestLateText(Base):
    broken = LateTextBackend


class TestFlatStops(Base):
    broken = FlatStopsBackend


class TestNoStop(Base):
    broken = NoStopBackend


class TestSamplingDropping(Base):
    broken = SamplingDroppingBackend


class TestStopClaiming(Base):
    broken = StopClaimingBackend


class TestPartsClaiming(Base):
    broken = PartsClaimingBackend


class TestMisspeltFactory(Base):
    @pytest.fixture
    def conformance_router(self, make_router, emulator):
        env = {"ACME_BASE_URL": emulator.base_url, "ACME_API_KEY": "k"}
        return make_router(plugins=[misspelt_plugin()], environ=env)

    def test_the_plugin_reports_the_factory(self, conformance_router):
        (info,) = [i for i in conformance_router.plugins.infos() if i.name == "Plugin-0"]
        assert info.status == "failed" and "make_backnd" in info.error
'''

STILL_PASSES = "test_breaking_out_closes_the_provider_stream"
#: Per broken backend: a kit test its defect must fail, and one it must still pass.
CAUGHT = {
    "TestForgetful": ("test_the_whole_history_reaches_the_model", "test_tool_round_trip"),
    "TestRawError": (
        "test_refused_requests_are_neutral_errors_retried_by_the_core[429-rate_limited]",
        "test_tool_round_trip",
    ),
    "TestLeaky": ("test_breaking_out_closes_the_provider_stream", "test_tool_round_trip"),
    "TestUncapped": (
        "test_the_tool_round_cap_ends_the_turn_with_tool_limit",
        "test_tool_round_trip",
    ),
    "TestModelIgnoring": ("test_per_run_system_and_model_reach_the_model", "test_tool_round_trip"),
    "TestLateText": ("test_text_turn_event_order", STILL_PASSES),
    "TestFlatStops": (
        "test_the_models_stop_reason_is_kept[/refuse-refusal]",
        "test_tool_round_trip",
    ),
    "TestNoStop": ("test_text_turn_event_order", STILL_PASSES),
    "TestSamplingDropping": ("test_generation_settings_reach_the_model", "test_tool_round_trip"),
    "TestStopClaiming": ("test_generation_settings_reach_the_model", "test_tool_round_trip"),
    "TestPartsClaiming": ("test_declared_parts_reach_the_model_intact", "test_tool_round_trip"),
    "TestMisspeltFactory": ("test_text_turn_event_order", "test_the_plugin_reports_the_factory"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("broken")
    (root / "test_broken.py").write_text(BROKEN)
    selected = [f"test_broken.py::{cls}::{test}" for cls, tests in CAUGHT.items() for test in tests]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore",
            "-rA",
            "-q",
            *selected,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = run.stdout + run.stderr
    found = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^(PASSED|FAILED|ERROR) test_broken\.py::(\S+)", report, re.M)
    )
    assert len(found) == len(selected), report
    return found


@pytest.mark.parametrize("broken", sorted(CAUGHT))
def test_the_kit_fails_the_broken_backend(outcomes: dict[str, str], broken: str) -> None:
    fails, passes = CAUGHT[broken]
    assert outcomes[f"{broken}::{fails}"] == "FAILED"
    assert outcomes[f"{broken}::{passes}"] == "PASSED"


def test_the_example_provider_itself_passes(tmp_path: Path) -> None:
    """The control: the same kit passes the unbroken example provider (its own test module)."""
    example = Path(__file__).parents[1] / "examples" / "copass-router-acme" / "tests"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore", "-q"],
        cwd=example,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
