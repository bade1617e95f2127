"""The entry-point cache answers only for the installation it was read from.

Each check runs in a fresh interpreter whose sys.path has a directory of this test's own, where
the test installs and removes a distribution the way an installer does (a ``.dist-info``
directory appears or goes). The cache file is one of the test's own too (beside that directory):
the environment's own file is rewritten by every copass-router process, and other tests run side
by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from copass_router.plugin_host._entry_points import load_reference

LIST = """
import json, os, sys
from copass_router.plugin_host import _entry_points
_entry_points._cache_file = lambda group: os.environ["ENTRY_POINT_CACHE"]
found = _entry_points.installed("copass_router")
print(json.dumps({
    "plugins": {ep.name: [ep.value, ep.dist, ep.version] for ep in found.entry_points},
    "scanned": "importlib.metadata" in sys.modules,
}))
"""


def _install(site: Path, version: str) -> None:
    info = site / "copass_router_fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: copass-router-fakeplug\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text("[copass_router]\nfakeplug = fake_plug\n")


def _uninstall(site: Path) -> None:
    info = site / "copass_router_fakeplug-1.0.dist-info"
    for child in info.iterdir():
        child.unlink()
    info.rmdir()


def _age(site: Path) -> None:
    """As if the last install had been a minute ago (a scan is cached once mtimes settle)."""
    old = time.time() - 60
    os.utime(site, (old, old))


def _list(site: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(site), "ENTRY_POINT_CACHE": str(_cache(site))}
    out = subprocess.run(  # in ``site``: sys.path's "" is the current directory
        [sys.executable, "-c", LIST], capture_output=True, text=True, check=True, env=env, cwd=site
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _cache(site: Path) -> Path:
    return site.parent / "entry-points.copass_router.json"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "fake_plug.py").write_text("")
    _age(site)
    return site


def test_a_settled_installation_is_read_from_the_cache(site: Path) -> None:
    _install(site, "1.0")
    _age(site)
    first = _list(site)
    again = _list(site)
    assert first["plugins"] == again["plugins"]
    assert again["scanned"] is False  # no metadata scan: the cache answered
    assert again["plugins"]["fakeplug"] == ["fake_plug", "copass-router-fakeplug", "1.0"]  # type: ignore[index]


def test_installing_upgrading_and_removing_a_plugin_is_seen_at_once(site: Path) -> None:
    _age(site)
    assert "fakeplug" not in _list(site)["plugins"]  # type: ignore[operator]
    assert _list(site)["scanned"] is False  # cached: this installation has settled

    _install(site, "1.0")  # the directory changed: the old answer no longer applies
    listed = _list(site)
    assert listed["scanned"] is True
    assert listed["plugins"]["fakeplug"][2] == "1.0"  # type: ignore[index]

    _age(site)
    _list(site)
    _uninstall(site)
    _install(site, "2.0")  # an upgrade, even within one mtime tick of the last scan
    assert _list(site)["plugins"]["fakeplug"][2] == "2.0"  # type: ignore[index]

    _uninstall(site)
    assert "fakeplug" not in _list(site)["plugins"]  # type: ignore[operator]


def test_a_change_in_the_last_two_seconds_is_never_cached(site: Path) -> None:
    _install(site, "1.0")  # just now: the mtime may not have ticked past a concurrent scan
    _list(site)
    assert _list(site)["scanned"] is True


def test_load_reference_follows_the_entry_point_syntax() -> None:
    assert load_reference("os.path") is os.path
    assert load_reference("os:path.join") is os.path.join
    assert load_reference("os.path:join [extra]") is os.path.join


@pytest.mark.parametrize(
    "damage",
    ["not json", '{"format": 1, "records": [{"key": [], "entry_points": [[1]]}]}', "[]"],
)
def test_a_damaged_cache_file_is_scanned_over(site: Path, damage: str) -> None:
    _install(site, "1.0")
    _age(site)
    _list(site)
    _cache(site).write_text(damage)
    listed = _list(site)
    assert listed["scanned"] is True
    assert "fakeplug" in listed["plugins"]  # type: ignore[operator]
