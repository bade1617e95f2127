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
    # pull in the run machinery (events, value types) just by being registered, nor attrs,
    # cattrs or structlog (what it registers is plain dataclasses), nor the run command.
    code = (
        "import sys\n"
        "from copass_router.cli._main import main\n"
        "sys.argv = ['copass-router', 'providers']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', ','.join(sorted(m for m in sys.modules if m in %r)))"
        % (
            (
                "attr",
                "attrs",
                "cattrs",
                "structlog",
                "copass_router._events",
                "copass_router._types",
                "copass_router.run._router",
                "copass_router.cli._run",
            ),
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.rsplit("LOADED", 1)[1].strip()
    assert "otel" in result.stdout or "echo" in result.stdout  # the listing ran
    assert loaded == ""


def test_a_router_without_mcp_servers_never_loads_the_mcp_catalog() -> None:
    code = (
        "import sys\n"
        "import copass_router as c\n"
        "c.Router(store=':memory:').providers()\n"
        "first = 'copass_router.integrations.catalog' in sys.modules\n"
        "c.Router(store=':memory:', mcp_servers=[{'name': 'm', 'url': 'http://127.0.0.1:9/mcp'}])\n"
        "print(first, 'copass_router.integrations.catalog' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True"]


def test_importing_router_loads_no_attrs_class_store_or_plugin_machinery() -> None:
    # `from copass_router import Router` is what every program writes: what a run needs is
    # loaded when the router is built and when it first runs.
    code = (
        "import sys\n"
        "from copass_router import Router\n"
        "print(','.join(sorted(m for m in sys.modules if m in %r)))"
        % (
            (
                "attr",
                "attrs",
                "pluggy",
                "sqlite3",
                "copass_router._events",
                "copass_router._types",
                "copass_router.store",
                "copass_router.plugin_host._plugins",
                "copass_router.accounting._metering",
            ),
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_router_default_spelled_out_for_a_light_import_matches_its_owner() -> None:
    import inspect

    from copass_router import Router
    from copass_router.run._requests import MAX_MESSAGE_CHARS

    parameters = inspect.signature(Router).parameters
    assert parameters["max_message_chars"].default == MAX_MESSAGE_CHARS
