"""The root conftest's secret watch holds however the suite runs: in one process, or in several
(``make test``): a canary leaked in any process fails the run, named with the test that leaked
it in the one summary at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PROBE = """
import logging


def test_leaks():
    logging.getLogger("probe").warning("key sk-portable-0123456789abcdef")


def test_clean():
    pass
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_leak_in_any_process_fails_the_run_and_is_named(tmp_path: Path, workers: str) -> None:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert "2 passed" in out, out[-3000:] + result.stderr[-3000:]
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    assert "SECRET CANARIES LEAKED" in out
    assert "test_probe.py::test_leaks: sk-portable-… in log probe" in out
    assert "0 leaked" not in out
