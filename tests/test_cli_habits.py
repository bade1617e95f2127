"""The habits users bring from similar command lines: --version, a message from stdin or a
file, --continue, sessions list/delete, models, --tools, flag typos, colour, completion."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from copass_router._errors import RouterError
from copass_router._events import TextDelta, ThinkingDelta
from copass_router.cli._main import main
from copass_router.cli._render import EventPrinter

EXE = str(Path(sys.executable).parent / "copass-router")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COPASS_ROUTER_LOAD_PLUGINS", "")
    monkeypatch.chdir(tmp_path)


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def _command(
    *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_version() -> None:
    run = _command("--version")
    assert run.returncode == 0
    assert run.stdout == f"copass-router {metadata.version('copass-router')}\n"


def test_a_long_message_from_stdin_and_from_a_file(tmp_path: Path) -> None:
    long = "word " * 30_000  # 150 KB: more than a command line can carry
    run = _command("run", "--json", "-", stdin=long)
    assert run.returncode == 0, run.stderr
    started = json.loads(run.stdout.splitlines()[0])
    code, out = _cli("sessions", "show", started["session_id"], "--json")
    assert json.loads(out)["user"] == long
    (tmp_path / "message.txt").write_text("from a file\n")
    code, out = _cli("run", "--file", "message.txt")
    assert code == 0 and "echo: from a file" in out


def test_a_message_is_required_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("run")[0] == 2
    assert "run needs a message" in capsys.readouterr().err
    assert _cli("run", "--file", "x.txt", "hi")[0] == 2
    assert "not both" in capsys.readouterr().err


def test_continue_takes_the_end_users_latest_session() -> None:
    _cli("run", "--end-user", "ana", "first words")
    _cli("run", "--end-user", "bob", "bob's words")
    code, out = _cli("run", "--end-user", "ana", "--continue", "/recall")
    assert code == 0 and "user: first words" in out and "bob" not in out
    code, out = _cli("run", "--end-user", "carl", "-c", "/recall")  # none yet: a new session
    assert code == 0 and "first words" not in out


def test_sessions_list_shows_when_who_where_and_what_and_delete_removes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli("run", "the first message\nof two lines")
    _cli("run", "--continue", "a second")
    code, out = _cli("sessions", "list", "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["turns"] == 2 and row["provider"] == "echo" and row["model"] == "echo-1"
    assert row["first_message"] == "the first message\nof two lines"
    assert row["created_at"].endswith("Z") and row["updated_at"] >= row["created_at"]
    code, out = _cli("sessions", "list")
    assert out.startswith(row["session_id"])
    assert "user=local  echo/echo-1  turns=2  'the first message of two lines'" in out
    assert _cli("sessions", "show", row["session_id"], "--end-user", "bob")[0] == 2
    assert "give theirs with --end-user ID" in capsys.readouterr().err
    code, out = _cli("sessions", "delete", row["session_id"])
    assert code == 0 and out == f"deleted {row['session_id']}\n"
    assert _cli("sessions", "list") == (0, "")


def test_providers_models_marks_the_default_and_an_unknown_model_warns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _cli("providers", "--models")
    assert out == "echo                 echo-1*\n"
    code, out = _cli("providers", "--models", "--json")
    assert json.loads(out) == {"name": "echo", "default_model": "echo-1", "models": ["echo-1"]}
    code, out = _cli("run", "-m", "echo-9", "hi")
    assert code == 0
    assert (
        "warning: echo does not list model 'echo-9' (its models: echo-1)" in capsys.readouterr().err
    )


def test_tools_come_from_an_importable_module(tmp_path: Path) -> None:
    (tmp_path / "shop_tools_probe.py").write_text(
        "from copass_router import tool\n\n"
        "@tool\ndef order_status(order_id: str) -> dict:\n"
        '    """Where an order is."""\n'
        '    return {"order_id": order_id, "status": "shipped"}\n'
    )
    code, out = _cli("run", "--tools", "shop_tools_probe", '/tool order_status {"order_id": "A-1"}')
    assert code == 0
    assert '← order_status: {"order_id": "A-1", "status": "shipped"}' in out


def test_a_module_without_tools_or_that_is_missing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "no_tools_probe.py").write_text("x = 1\n")
    assert _cli("run", "--tools", "no_tools_probe", "hi")[0] == 2
    assert "defines no tools" in capsys.readouterr().err
    assert _cli("run", "--tools", "no_such_module_probe", "hi")[0] == 2
    assert "cannot import it" in capsys.readouterr().err


@pytest.mark.parametrize(("typo", "meant"), [("--modle", "--model"), ("--sesion", "--session")])
def test_a_mistyped_flag_is_refused_with_the_nearest_one(typo: str, meant: str) -> None:
    run = _command("run", typo, "claude", "hello")
    assert run.returncode == 2 and run.stdout == ""  # nothing ran: the typo is not the message
    assert f"unrecognized arguments: {typo}" in run.stderr
    assert f"(did you mean {meant}?)" in run.stderr


def test_no_colour_in_a_pipe_and_reasoning_on_its_own_line() -> None:
    run = _command("run", "/think a plan")
    assert "\x1b[" not in run.stdout
    lines = run.stdout.splitlines()
    assert lines[1].startswith("(thinking) ") and lines[2] == "I thought about: a plan"


def test_colour_only_for_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from copass_router.cli import _color

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _color(Terminal()) and not _color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _color(Terminal())
    out = io.StringIO()
    printer = EventPrinter(out, color=True)
    printer.show(ThinkingDelta(run_id="r", text="hmm"))
    printer.show(TextDelta(run_id="r", text="yes"))
    assert out.getvalue() == "\x1b[2m(thinking) \x1b[0m\x1b[2mhmm\x1b[0m\nyes"


def test_emulators_answer_to_their_provider_names(capsys: pytest.CaptureFixture[str]) -> None:
    from copass_router.cli import _emulator
    from copass_router.plugin_host._plugins import PluginHost

    host = PluginHost(environ={})
    host.load()
    assert _emulator(host, "openai-compatible") is _emulator(host, "openai")
    with pytest.raises(
        RouterError, match=r"no emulator for 'nope'; installed emulators: .*openai-compatible"
    ):
        _emulator(host, "nope")


def test_completion_offers_every_command_and_the_flags_of_run() -> None:
    run = _command("completion", "bash")
    assert run.returncode == 0
    script = run.stdout
    assert "complete -o default -F _copass_router copass-router" in script
    assert (
        "--continue" in script
        and "--tools" in script
        and "sessions) words='list show delete" in script
    )
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    completed = subprocess.run(
        [
            "bash",
            "-c",
            script + "COMP_WORDS=(copass-router run --con); COMP_CWORD=2; "
            "_copass_router; echo ${COMPREPLY[@]}",
        ],
        capture_output=True,
        text=True,
    )
    assert completed.stdout.split() == ["--continue"]


def test_the_standard_opentelemetry_variables_trace_a_cli_run() -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "cli-probe"}
    env_without_filter = {k: v for k, v in os.environ.items() if k != "COPASS_ROUTER_LOAD_PLUGINS"}
    run = subprocess.run(
        [EXE, "run", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env_without_filter, **env},
    )
    assert run.returncode == 0, run.stderr
    assert '"name": "invoke_agent"' in run.stdout and '"name": "chat echo-1"' in run.stdout
    assert '"service.name": "cli-probe"' in run.stdout
    wrong = subprocess.run(
        [EXE, "run", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env_without_filter, "OTEL_TRACES_EXPORTER": "nonesuch"},
    )
    assert wrong.returncode == 2
    assert (
        "OTEL_TRACES_EXPORTER names nonesuch, which no installed package provides" in wrong.stderr
    )
