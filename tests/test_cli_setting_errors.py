"""Settings the CLI cannot use (a coordinator URL, a port): one line naming them and the cause."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from copass_router.cli._main import main


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv), out=io.StringIO())
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("redis://:hunter2secret@127.0.0.1:6379/99", "DB index is out of range"),
        ("redis://:hunter2secret@127.0.0.1:6379/0?pool_size=abc", "pool_size"),
    ],
)
def test_a_coordinator_url_redis_refuses_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    url: str,
    cause: str,
) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'sessions.db'}")
    monkeypatch.setenv("COPASS_ROUTER_COORDINATOR", url)
    # Tool callbacks may come through the hosted workers: this run uses their coordinator.
    monkeypatch.setenv("COPASS_ROUTER_DISPATCH_URL", "http://127.0.0.1:8080/v1/dispatch")
    err = _cli_error(capsys, "run", "hi")
    assert cause in err
    assert "redis://:***@127.0.0.1:6379" in err
    assert "hunter2secret" not in err
    assert "retry" not in err  # nothing a retry would fix


def test_emulate_on_a_taken_port_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _cli_error(capsys, "emulate", "openai", "--host", "127.0.0.1", "--port", str(port))
    assert f"127.0.0.1:{port}" in err
    assert "--port" in err


@pytest.mark.parametrize(
    ("url", "cause", "advice"),
    [
        (
            "postgresql://postgres:hunter2secret@127.0.0.1:5432/copass_no_such_db",
            'database "copass_no_such_db" does not exist',
            "create it",
        ),
        (
            "postgresql://postgres:hunter2secret@127.0.0.1:5432/test?pool_size=abc",
            "pool_size",
            "fix",
        ),
    ],
)
def test_a_store_url_that_cannot_open_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    cause: str,
    advice: str,
) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", url)
    err = _cli_error(capsys, "sessions", "list")
    assert cause in err and advice in err
    assert "postgresql://postgres:***@127.0.0.1" in err
    assert "hunter2secret" not in err


@pytest.mark.parametrize("command", [["sessions", "list"], ["usage"], ["store", "migrate"]])
def test_a_store_that_does_not_answer_is_one_line_naming_it_and_saying_to_retry(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", "postgresql://postgres:hunter2secret@127.0.0.1:1/x")
    err = _cli_error(capsys, *command)
    assert "failed to answer" in err and "retry" in err
    assert "postgresql://postgres:***@127.0.0.1:1/x" in err
    assert "hunter2secret" not in err


@pytest.mark.parametrize("command", [["coordinator", "rotate-key"], ["run", "hi"]])
def test_a_coordinator_that_does_not_answer_is_one_line_naming_it_and_saying_to_retry(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    """The commands that use the coordinator: rotating the workers' key, and a run whose tool
    callbacks come through the hosted workers."""
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'sessions.db'}")
    monkeypatch.setenv("COPASS_ROUTER_COORDINATOR", "redis://:hunter2secret@127.0.0.1:9/0")
    monkeypatch.setenv("COPASS_ROUTER_DISPATCH_URL", "http://127.0.0.1:8080/v1/dispatch")
    err = _cli_error(capsys, *command)
    assert "coordinator is unreachable" in err and "retry" in err
    assert "redis://:***@127.0.0.1:9/0" in err
    assert "hunter2secret" not in err


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:9/0", "redis://:hunter2secret@127.0.0.1:6379/99"]
)
def test_a_local_run_needs_no_coordinator(tmp_path: Path, url: str) -> None:
    """``copass-router run`` as a user types it, with the hosted workers' coordinator setting
    in the environment and that Redis down (nothing listens on port 9) or refusing the URL:
    the run needs no coordinator, so it runs."""
    exe = Path(sys.executable).parent / "copass-router"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")}
    env.update(
        COPASS_ROUTER_COORDINATOR=url,
        COPASS_ROUTER_STORE=f"sqlite:///{tmp_path / 'sessions.db'}",
    )
    done = subprocess.run(
        [str(exe), "run", "hello"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "echo: hello" in done.stdout
    assert done.stderr == ""
