"""The plugin directory matches the plugins in this repository and docs/plugins.md."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from copass_router.cli._main import main
from copass_router.plugin_host._plugin_directory import DIRECTORY, find_plugin, nearest

ROOT = Path(__file__).parents[1]


def test_every_first_party_plugin_is_in_the_directory() -> None:
    shipped = {
        tomllib.loads(p.read_text())["project"]["name"]
        for p in ROOT.glob("plugins/*/pyproject.toml")
    }
    assert {e.distribution for e in DIRECTORY} == shipped


def test_each_entry_names_the_providers_its_distribution_registers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("COPASS_ROUTER_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("COPASS_ROUTER_STORE", ":memory:")
    out = io.StringIO()
    assert main(["providers", "--json"], out=out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    for entry in DIRECTORY:
        registered = tuple(sorted(r["name"] for r in rows if r["plugin"] == entry.distribution))
        assert registered == entry.providers, entry.name


def test_docs_plugins_md_lists_each_entry() -> None:
    rows = {
        cells[0].strip("` "): cells
        for line in (ROOT / "docs" / "plugins.md").read_text().splitlines()
        if line.startswith("| `")
        for cells in [line.strip("|").split("|")]
    }
    assert set(rows) == {e.name for e in DIRECTORY}
    for entry in DIRECTORY:
        name, distribution, providers, _ = rows[entry.name]
        assert distribution.strip() == f"`{entry.distribution}`"
        assert re.findall(r"`([^`]+)`", providers) == list(entry.providers)


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("openai", "openai"),
        ("openai-compatible", "openai"),
        ("copass-router-google", "google"),
        ("openia", None),
        ("copass-router-openia", None),
        ("OpenAI", None),
    ],
)
def test_find_plugin_takes_exact_names_only(name: str, found: str | None) -> None:
    entry = find_plugin(name)
    assert (entry.name if entry else None) == found


def test_nearest_offers_typos_not_distant_names() -> None:
    assert nearest("openia", ["echo", "openai"]) == "openai"
    assert nearest("OpenAI", ["echo", "openai"]) == "openai"
    assert nearest("nope", ["echo", "openai"]) is None
