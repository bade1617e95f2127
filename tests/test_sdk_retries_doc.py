"""Every plugin's README says what its code does for the provider SDK's own retries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from copass_router import PROVIDER_SDK_RETRIES

PLUGINS = Path(__file__).parents[1] / "plugins"
SETTINGS = {
    "copass-router-anthropic": "ANTHROPIC_MAX_RETRIES",
    "copass-router-google": "COPASS_ROUTER_GOOGLE_MAX_RETRIES",
    "copass-router-openai": "COPASS_ROUTER_OPENAI_MAX_RETRIES",
}


@pytest.mark.parametrize("plugin", sorted(SETTINGS))
def test_the_readme_gives_the_codes_default(plugin: str) -> None:
    setting = SETTINGS[plugin]
    source = "\n".join(p.read_text() for p in (PLUGINS / plugin / "src").rglob("*.py"))
    assert f'"{setting}", PROVIDER_SDK_RETRIES' in source.replace("\n", " ").replace("  ", " ")
    readme = (PLUGINS / plugin / "README.md").read_text()
    at = readme.index(setting)
    defaults = re.findall(r"default (\d+)", readme[max(0, at - 200) : at + 200])
    assert defaults and int(defaults[0]) == PROVIDER_SDK_RETRIES, (plugin, defaults)
