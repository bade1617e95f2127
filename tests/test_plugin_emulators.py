"""Each bundled provider plugin keeps its emulators in its own ``emulator`` subpackage, named
by a ``"module:serve"`` reference so the plugin loads without importing any of them."""

from __future__ import annotations

import subprocess
import sys

from copass_router.plugin_host._entry_points import reference_problem
from copass_router.plugin_host._plugins import PluginHost

BUNDLED = {
    "anthropic": "copass_router_anthropic.emulator:serve",
    "google": "copass_router_google.emulator:serve",
    "gemini-agents": "copass_router_google.emulator.interactions:serve",
    "openai": "copass_router_openai.emulator:serve",
    "openai-agents": "copass_router_openai.emulator.agents:serve",
}


def test_every_bundled_emulator_is_in_its_plugins_emulator_package() -> None:
    host = PluginHost(environ={})
    host.load()
    assert {name: host.emulators.get(name) for name in BUNDLED} == BUNDLED
    for reference in BUNDLED.values():
        assert reference_problem(reference) is None, reference


def test_loading_the_plugins_imports_no_emulator() -> None:
    code = (
        "import sys\n"
        "from copass_router.plugin_host._plugins import PluginHost\n"
        "PluginHost(environ={}).load()\n"
        "print(','.join(sorted(m for m in sys.modules if '.emulator' in m)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
