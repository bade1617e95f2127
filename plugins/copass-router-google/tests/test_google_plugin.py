"""The plugin's registration: light to import, and every hook wired."""

from __future__ import annotations

import json
import subprocess
import sys

import copass_router_google
import pytest

from copass_router import Router


def test_importing_the_plugin_loads_no_sdk() -> None:
    code = (
        "import json, sys, copass_router, copass_router_google;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    heavy = (
        "google.adk",
        "google.genai",
        "google.auth",
        "google.cloud.aiplatform",
        "vertexai",
        "agentplatform",
        "starlette",
        "uvicorn",
    )
    loaded = [m for m in json.loads(out) if m.startswith(heavy)]
    assert loaded == [], f"imported at plugin load: {loaded[:10]}"


async def test_hooks_register_backend_emulator_and_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    router = Router(plugins=[copass_router_google], load_entry_points=False, store=":memory:")
    try:
        assert "google" in {p.name for p in router.providers()}
        assert router.plugins.emulators["google"] == "copass_router_google.emulator:serve"
        handler, help_text = router.plugins.commands["google"]
        assert "deploy" in help_text
        with pytest.raises(SystemExit) as exited:
            handler(["deploy", "--help"])
        assert exited.value.code == 0
        assert "--router-url" in capsys.readouterr().out
    finally:
        await router.aclose()
