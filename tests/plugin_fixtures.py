"""Builds throwaway installed distributions (dist-info + module) for entry-point tests."""

from __future__ import annotations

from pathlib import Path


def install_fake_plugin(root: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    """Write ``module.py`` and a dist-info declaring it under the copass_router entry point."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[copass_router]\n{ep_name} = {module}\n")
