"""The copass-router command, run in-process and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from copass_router.cli._main import main


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COPASS_ROUTER_LOAD_PLUGINS", "")


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_run_prints_text_tools_and_usage() -> None:
    code, out = _cli("run", "/tool missing {}")
    assert code == 0
    assert "→ missing({})" in out
    assert "✗ missing: unknown tool 'missing'" in out
    assert "[end_turn] tokens in=" in out


def test_run_json_and_continue_a_session() -> None:
    code, out = _cli("run", "--json", "first words")
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "run_started"
    assert events[-1]["type"] == "run_finished"
    session = events[0]["session_id"]
    code, out = _cli("run", "--session", session, "/recall")
    assert code == 0 and "user: first words" in out
    code, out = _cli("sessions", "show", session)
    assert "[0] echo/echo-1 (completed)" in out and "user: /recall" in out
    code, out = _cli("sessions", "list")
    assert session in out and "turns=2" in out


def test_run_passes_the_generation_settings() -> None:
    code, out = _cli(
        "run", "--temperature", "0", "--max-output-tokens", "9", "--stop", "A", "--stop", "B",
        "/settings",
    )  # fmt: skip
    assert code == 0
    assert 'temperature=0.0 max_output_tokens=9 stop=["A", "B"]' in out
    code, out = _cli("run", "--max-output-tokens", "2", "/long 5")
    assert "w1 w2" in out and "w3" not in out and "[max_tokens]" in out


def test_run_asks_for_structured_output_from_a_schema_file(tmp_path: Path) -> None:
    schema = tmp_path / "order.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"order": {"type": "string"}}}))
    code, out = _cli("run", "--output-schema", str(schema), "A-17")
    assert code == 0
    assert '= output: {"order": "echo: A-17"}' in out
    code, out = _cli("run", "--output-schema", str(schema), "/badjson nope")
    assert code == 1 and "! output_invalid: the answer does not match output_schema" in out
    assert main(["run", "--output-schema", str(tmp_path / "none.json"), "x"]) == 2


def test_unknown_provider_offers_the_nearest_and_invents_no_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COPASS_ROUTER_LOAD_PLUGINS")  # the installed plugins, openai among them
    code, _ = _cli("run", "-p", "openia", "hi")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("copass-router: unknown provider 'openia'; did you mean 'openai'?")
    assert "copass-router-openia" not in err and "install openia" not in err
    assert "No known plugin provides 'openia'" in err and "docs/plugins.md" in err


def test_a_directory_provider_that_is_not_installed_gets_its_real_install_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = _cli("run", "-p", "antropic", "hi")  # no plugins loaded: only echo is installed
    err = capsys.readouterr().err
    assert code == 2
    assert "installed providers: echo. Did you mean 'anthropic'?" in err
    assert (
        "copass-router install anthropic (from this checkout or COPASS_ROUTER_PLUGIN_SOURCE" in err
    )
    assert "pip install" not in err  # not on the package index: advice that cannot work
    assert "antropic" not in err.split("Did you mean")[1]


def test_providers_and_plugins_list_the_builtins() -> None:
    code, out = _cli("providers", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {"name": "echo", "plugin": "copass-router"}.items() <= rows[0].items()
    code, out = _cli("plugins")
    assert "copass_router.builtin.echo" in out and "loaded" in out


def test_the_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "copass-router"
    result = subprocess.run(
        [str(exe), "run", "hello from a subprocess"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "echo: hello from a subprocess" in result.stdout


PLUGIN_PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "copass-router-cli-probe"
version = "0.0.1"
dependencies = []

[project.entry-points.copass_router]
cli-probe = "copass_router_cli_probe"

[tool.hatch.build.targets.wheel]
packages = ["copass_router_cli_probe"]
"""
PLUGIN_MODULE = """
from copass_router import hookimpl

@hookimpl
def copass_router_register_backends(register):
    register("cli-probe", "copass_router.testing:ScriptedBackend", description="probe")
"""


@pytest.fixture
def pip_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip writes this file whenever it runs; it never reaches an index here."""
    log = tmp_path / "pip.log"
    monkeypatch.setenv("PIP_LOG", str(log))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return log


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["install", "openia"], "did you mean 'openai'?"),
        (["install", "copass-router-openia"], "did you mean 'copass-router-openai'?"),
        (["install", "./no-such-plugin"], "no such path: './no-such-plugin'"),
        (["install", "openai", "--package", "copass-router-openai"], "not both"),
        (["install"], "--package"),
        (["uninstall", "openia"], "did you mean 'openai'?"),
        (["uninstall", "echo"], "built into copass-router"),
    ],
)
def test_install_and_uninstall_refuse_unknown_names_without_running_pip(
    argv: list[str], says: str, pip_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _cli(*argv)
    err = capsys.readouterr().err
    assert code == 2 and says in err
    assert "openia" not in err or "not in the plugin directory (docs/plugins.md)" in err
    assert out == ""  # nothing announced
    assert not pip_log.exists()  # pip never ran


@pytest.mark.parametrize("name", ["openai", "openai-compatible", "copass-router-openai"])
def test_install_a_directory_name_that_is_installed_says_so(name: str, pip_log: Path) -> None:
    code, out = _cli("install", name)
    version = metadata.version("copass-router-openai")
    assert out == f"copass-router: copass-router-openai {version} is already installed\n"
    assert code == 0
    assert not pip_log.exists()  # pip never ran


def test_install_package_hands_pip_the_requirement_as_given(
    pip_log: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out = _cli("install", "--package", "copass-router-openia")
    assert out == "copass-router: installing copass-router-openia (as given with --package)\n"
    assert code == 1  # not on any index pip may use here, so pip refuses
    assert "copass-router-openia" in pip_log.read_text()


def test_install_and_uninstall_a_local_plugin(tmp_path: Path) -> None:
    project = tmp_path / "copass-router-cli-probe"
    (project / "copass_router_cli_probe").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (project / "copass_router_cli_probe" / "__init__.py").write_text(PLUGIN_MODULE)
    exe = str(Path(sys.executable).parent / "copass-router")
    env = {
        "PATH": "/usr/bin:/bin",
        "COPASS_ROUTER_STORE": ":memory:",
        "HOME": str(tmp_path),
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "XDG_"))},
    }
    try:
        installed = subprocess.run(
            [exe, "install", str(project)], capture_output=True, text=True, timeout=300, env=env
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert installed.stdout.startswith(f"copass-router: installing the plugin at {project}\n")
        listed = subprocess.run([exe, "providers"], capture_output=True, text=True, env=env)
        assert "cli-probe" in listed.stdout and "copass-router-cli-probe 0.0.1" in listed.stdout
    finally:
        removed = subprocess.run(
            [exe, "uninstall", "cli-probe"], capture_output=True, text=True, timeout=120, env=env
        )
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("copass-router: uninstalling copass-router-cli-probe\n")
    listed = subprocess.run([exe, "providers"], capture_output=True, text=True, env=env)
    assert "cli-probe" not in listed.stdout


def test_emulate_serves_a_provider_api(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = str(Path(sys.executable).parent / "copass-router")
    env = {k: v for k, v in os.environ.items() if k != "COPASS_ROUTER_LOAD_PLUGINS"}
    proc = subprocess.Popen(
        [exe, "emulate", "openai", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert '"object":"list"' in body.replace(" ", "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_emulate_names_the_installed_emulators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "nope"]) == 2
    assert "installed emulators:" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    # `copass-router run --json '/long 5000' | head -1`: the pipe closes mid-run.
    exe = str(Path(sys.executable).parent / "copass-router")
    env = {"COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [exe, "run", "--json", "/long 5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert b'"type":"run_started"' in proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as shell tools end
    assert stderr == ""
    listed = subprocess.run(
        [exe, "sessions", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "turns=1" in listed.stdout  # the cut-short turn is still recorded
