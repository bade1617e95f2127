"""Installed or not, the plugin costs nothing until a run: OpenTelemetry is imported only then."""

from __future__ import annotations

import subprocess
import sys


def _otel_modules_after(code: str) -> list[str]:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(','.join(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] == 'opentelemetry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"COPASS_ROUTER_STORE": ":memory:", "COPASS_ROUTER_LOAD_PLUGINS": "otel"},
    )
    return [m for m in result.stdout.strip().split(",") if m]


def test_import_copass_router_imports_no_opentelemetry() -> None:
    assert _otel_modules_after("import copass_router") == []


def test_loading_the_installed_plugin_imports_no_opentelemetry() -> None:
    code = (
        "import copass_router\n"
        "router = copass_router.Router()\n"
        "router.providers()\n"
        "assert 'otel' in [p.name for p in router.plugins.infos() if p.status == 'loaded'], "
        "router.plugins.infos()"
    )
    assert _otel_modules_after(code) == []


def test_the_first_run_imports_it() -> None:
    code = "import copass_router\ncopass_router.Router().run_sync(provider='echo', message='hi')"
    assert "opentelemetry.trace" in _otel_modules_after(code)


def test_remote_router_imports_no_opentelemetry_to_send_a_request() -> None:
    code = "from copass_router.client._remote_router import _trace_headers\nassert _trace_headers() == {}"
    assert _otel_modules_after(code) == []
