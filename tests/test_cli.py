"""The copass-router command, run in-process and as a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from copass_router.cli import main


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


def test_unknown_provider_exits_2_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _cli("run", "-p", "nope", "hi")
    assert code == 2
    assert "pip install copass-router-nope" in capsys.readouterr().err


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
