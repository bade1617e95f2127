"""The console's templates and static files ship in the wheel (hatchling packs what is beside
the modules), so an installed router serves the same pages as a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
CONSOLE = ROOT / "src/copass_router/server/console"


def test_the_wheel_carries_the_consoles_templates_and_static_files(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("copass_router-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assets = [p for p in CONSOLE.rglob("*") if p.is_file() and p.suffix in (".html", ".css", ".js")]
    assert {p.suffix for p in assets} == {".html", ".css", ".js"}
    for asset in assets:
        assert f"copass_router/server/console/{asset.relative_to(CONSOLE)}" in names, asset
