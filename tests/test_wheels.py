"""`make wheels` builds what installs where no checkout is: the core's wheel and a plugin's,
installed into a fresh venv, answer `copass-router --version`, list the plugin and run a turn
on the echo provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).parents[1]
PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=600, env=env or dict(os.environ)
    )
    assert result.returncode == 0, f"{argv}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


def test_the_wheels_install_into_a_fresh_venv_and_run(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    venv = Path(sys.prefix)  # the venv running the tests (make setup's), never set up again here
    listed = _run(
        ["make", "-s", "-o", f"{venv}/.installed", "wheels", f"VENV={venv}", f"DIST={dist}"],
        ROOT,
    )
    wheels = sorted(p.name.split("-")[0] for p in dist.glob("*.whl"))
    assert wheels == sorted(["copass_router", *(p.replace("-", "_") for p in PLUGINS)])
    assert all(line.endswith(".whl") for line in listed.split()), listed

    fresh = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(fresh)], tmp_path)
    [core] = dist.glob("copass_router-*.whl")
    [anthropic] = dist.glob("copass_router_anthropic-*.whl")
    # The wheels themselves (never an index's copy); their dependencies from the index.
    _run([str(fresh / "bin" / "pip"), "install", "--quiet", str(core), str(anthropic)], tmp_path)
    env = {
        "PATH": f"{fresh / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'sessions.db'}",
    }
    where = _run(
        [
            str(fresh / "bin" / "python"),
            "-c",
            "import copass_router; print(copass_router.__file__)",
        ],
        tmp_path,
        env,
    )
    assert where.startswith(str(fresh)), where  # the wheel's copy, not the checkout's
    exe = str(fresh / "bin" / "copass-router")
    assert _run([exe, "--version"], tmp_path, env) == f"copass-router {version('copass-router')}\n"
    providers = _run([exe, "providers"], tmp_path, env).split("\n")
    assert [line.split()[0] for line in providers if line] == ["anthropic", "echo"]
    events = [
        json.loads(line)
        for line in _run([exe, "run", "--json", "hello"], tmp_path, env).split("\n")
        if line
    ]
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert "hello" in "".join(e.get("text", "") for e in events if e["type"] == "text_delta")
