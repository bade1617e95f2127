"""The plugin as an outside author ships it: public imports only, light import, listed, emulate."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import copass_router_openai

import copass_router
from copass_router import Router

SRC = Path(copass_router_openai.__file__).parent
TESTS = Path(__file__).parent
CLI = str(Path(sys.executable).parent / "copass-router")
ALLOWED = {"copass_router", "copass_router.testing"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import of copass_router modules in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "copass_router"]
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "copass_router"
        ):
            found.append((str(node.module), [a.name for a in node.names]))
    return found


def test_only_public_core_api_is_imported() -> None:
    import copass_router.testing as testing

    exported = {
        "copass_router": set(copass_router.__all__),
        "copass_router.testing": set(testing.__all__),
    }
    files = sorted(SRC.rglob("*.py")) + sorted(TESTS.rglob("*.py"))
    assert len(files) > 10
    problems = []
    for path in files:
        for module, names in _imports(path):
            if module not in ALLOWED:
                problems.append(f"{path.name}: imports {module}")
                continue
            problems += [
                f"{path.name}: {module}.{n} is not exported"
                for n in names
                if n not in exported[module]
            ]
    assert problems == []


def test_the_walker_catches_private_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from copass_router.provider_kit._chat_loop import ModelStep\nimport copass_router._x\n"
    )
    assert [m for m, _ in _imports(bad)] == [
        "copass_router.provider_kit._chat_loop",
        "copass_router._x",
    ]


def test_importing_core_and_plugin_loads_no_sdk_or_server() -> None:
    code = (
        "import sys, copass_router, copass_router_openai\n"
        "heavy = ('openai', 'httpx2', 'starlette', 'uvicorn')\n"
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_both_providers_name_this_plugin_and_version() -> None:
    async with Router(
        plugins=[copass_router_openai], load_entry_points=False, store=":memory:", environ={}
    ) as router:
        infos = {p.name: p for p in router.providers()}
    assert {"openai", "openai-compatible"} <= set(infos)
    assert "Ollama" in infos["openai-compatible"].description


def test_cli_lists_both_providers_from_the_installed_distribution() -> None:
    out = subprocess.run([CLI, "providers", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in map(json.loads, out.stdout.splitlines())}
    for name in ("openai", "openai-compatible"):
        assert rows[name]["plugin"] == "copass-router-openai"
        assert rows[name]["version"] == "0.1.0"


def test_cli_emulate_serves_the_api() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [CLI, "emulate", "openai", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                    body = json.load(r)
                break
            except OSError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert body is not None and body["object"] == "list", stderr
