"""Starlette and uvicorn are the ``emulator`` extra: backends never need them, and
``copass-router emulate`` without them says which extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Makes ``import starlette`` / ``import uvicorn`` fail as if they were not installed.
WITHOUT_THE_EXTRA = (
    "import sys\nfor name in ('starlette', 'uvicorn'):\n    sys.modules[name] = None\n"
)

PLUGINS = ["anthropic", "google", "openai"]


def python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COPASS_ROUTER_LOAD_PLUGINS"}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA + code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_blocker_works() -> None:
    # Without this the tests below could pass with the modules quietly importable.
    run = python("import starlette")
    assert run.returncode != 0 and "ModuleNotFoundError" in run.stderr


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugins_backend_imports_without_the_emulator_extra(plugin: str) -> None:
    run = python(
        f"import copass_router_{plugin}, copass_router_{plugin}.backend\n"
        "import copass_router.testing, copass_router.testing.pytest_plugin\n"
        "from copass_router.testing import Faults, RequestLog\n"
        "print('ok')\n"
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize("plugin", PLUGINS)
def test_emulate_without_the_extra_names_the_pip_line(plugin: str) -> None:
    run = python(
        "from copass_router.cli._main import main\n"
        f"raise SystemExit(main(['emulate', '{plugin}', '--port', '0']))\n"
    )
    assert run.returncode == 2, run.stderr
    # from this checkout: the plugins are not on the package index
    project = Path(__file__).parents[1] / "plugins" / f"copass-router-{plugin}"
    assert f"pip install '{project}[emulator]'" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
