"""The testing kit runs as documented in a plain pytest project: pytest-asyncio's strict mode.

Each case runs pytest in a subprocess on a throwaway project that knows nothing of this
repository's configuration (which uses ``asyncio_mode = "auto"``), the way a provider author
starts.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

AUTHOR_TESTS = """
import pytest

from copass_router.testing import BackendConformance, ScriptedBackend


class TestEchoConformance(BackendConformance):
    provider = "echo"

    @pytest.fixture
    def conformance_router(self, make_router):
        return make_router()

    @pytest.fixture
    def conformance_emulator(self):
        return None


@pytest.mark.asyncio
async def test_router_fixture(router):
    events = [e async for e in router.run(provider="echo", message="hi", end_user_id="u")]
    assert events[-1].stop_reason.value == "end_turn"


@pytest.mark.asyncio
async def test_scripted_router(scripted_router, scripted_backend):
    assert isinstance(scripted_backend, ScriptedBackend)
    events = [e async for e in scripted_router.run(provider="scripted", message="x", end_user_id="u")]
    assert events[-1].stop_reason.value == "end_turn"
"""

CONFIGS = {
    "no config": None,
    "strict": '[tool.pytest.ini_options]\nasyncio_mode = "strict"\n',
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_fixtures_and_the_conformance_kit_run_in_strict_mode(
    tmp_path: Path, config: str
) -> None:
    (tmp_path / "test_acme.py").write_text(AUTHOR_TESTS)
    text = CONFIGS[config]
    if text is not None:
        (tmp_path / "pyproject.toml").write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert re.search(r"mode=(Mode\.)?strict", report, re.I), (
        "the throwaway project must run in strict mode"
    )
    passed = re.search(r"(\d+) passed", report)
    assert passed and int(passed.group(1)) >= 9, report  # 2 + the conformance suite
    assert "error" not in report.lower(), report
