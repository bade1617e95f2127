"""`import copass_router` stays light: no provider SDK, no web server (timings live in bench/)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "anthropic",
    "openai",
    "google",
    "vertexai",
    "agentplatform",
    "starlette",
    "uvicorn",
    "grpc",
    "httpx",
    "jsonschema",
    "structlog",
    "pytest",
)


def test_import_pulls_in_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import copass_router"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_router_construction_and_provider_listing_stay_light() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)  # .pth files of namespace packages import at start-up\n"
        "import copass_router as c\n"
        "c.Router(store=':memory:').providers()\n"
        "new = set(sys.modules) - before\n"
        "print(','.join(sorted(m for m in new if m.split('.')[0] in %r)))" % (HEAVY,)
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_listing_providers_loads_no_event_or_value_classes() -> None:
    # `copass-router providers` (bench figure 3) loads every installed plugin: none of them may
    # pull in the run machinery (events, value types) just by being registered.
    code = (
        "import sys\n"
        "from copass_router.cli._main import main\n"
        "sys.argv = ['copass-router', 'providers']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', ','.join(sorted(m for m in sys.modules if m in %r)))"
        % (("copass_router._events", "copass_router._types", "copass_router.run._router"),)
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.rsplit("LOADED", 1)[1].strip()
    assert "otel" in result.stdout or "echo" in result.stdout  # the listing ran
    assert loaded == ""
