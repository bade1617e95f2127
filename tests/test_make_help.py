"""`make help` (also what `make` alone does) lists every target the Makefile documents."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_make_and_make_help_list_every_documented_target() -> None:
    documented = re.findall(r"^([a-z][a-z-]*):.*## (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert {"help", "setup", "demo", "test", "bench"} <= {t for t, _ in documented}
    for argv in (["make", "-s", "help"], ["make", "-s"]):
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert [line.split()[0] for line in lines] == [t for t, _ in documented]
        for line, (_, text) in zip(lines, documented, strict=True):
            assert line.split(None, 1)[1] == text


def test_a_first_setup_says_what_it_downloads_and_shows_pips_progress(tmp_path: Path) -> None:
    venv = tmp_path / "no-venv-yet"
    result = subprocess.run(
        ["make", "-n", "setup", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = result.stdout
    assert f'test -e {venv} || echo "First run: downloads about 400 MB' in shown
    [install] = [line for line in shown.splitlines() if "-e '.[dev]'" in line]
    assert "--quiet" not in install  # pip's lines show what it fetches, one by one
