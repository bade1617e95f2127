"""docs/usage-and-budgets.md runs as written: its worked example and its shell commands."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "usage-and-budgets.md"


@pytest.mark.parametrize("time", ["first", "second"])
def test_the_worked_example_runs_again_and_again(
    tmp_path_factory: pytest.TempPathFactory, time: str
) -> None:
    # The reader's own store (one for both runs): the example must not spend the budget there.
    store = tmp_path_factory.getbasetemp() / "readers-store.db"
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    script = tmp_path_factory.mktemp(time) / "example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COPASS_ROUTER_STORE": f"sqlite:///{store}", "COPASS_ROUTER_LOAD_PLUGINS": ""},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "failover: flaky -> echo (overloaded)"
    assert lines[1] == "finished on echo, cost 0.000087 USD"
    assert lines[2].startswith("refused: tenant acme, end user ana: 0.0001 USD per day; resets")
    assert [line.split()[:4] for line in lines[3:]] == [
        ["ana", "echo", "echo-1", "2"],
        ["bob", "echo", "echo-1", "1"],
    ]


def test_every_shell_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from copass_router.cli._main import main

    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'doc.db'}")
    assert main(["run", "--end-user", "ana", "hello"], out=io.StringIO()) == 0
    commands = re.findall(r"^(copass-router usage .*)$", DOC.read_text(), re.M)
    assert commands
    for command in commands:
        out = io.StringIO()
        assert main(shlex.split(command)[1:], out=out) == 0, command
        assert "ana" in out.getvalue()
