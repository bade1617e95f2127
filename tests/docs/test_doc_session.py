"""The doc runner itself: it fails where a reader would, and carries the shell's state over."""

from __future__ import annotations

from pathlib import Path

from .doc_commands import commands
from .doc_session import DocSession, StandIns


def _run(tmp_path: Path, markdown: str) -> tuple[DocSession, list[str]]:
    doc = tmp_path / "doc.md"
    doc.write_text(markdown)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    session = DocSession(commands(doc, root=tmp_path), work, StandIns(work))
    return session, session.run()


def test_state_carries_over_and_placeholders_are_filled(tmp_path: Path) -> None:
    session, problems = _run(
        tmp_path,
        '```sh\nexport GREETING=hello\ncopass-router run "$GREETING"\n'
        "copass-router run --session ses_... /recall | grep -q 'user: hello'\n"
        "copass-router sessions show SESSION_ID | grep -q '^\\[1\\] echo'\n```\n",
    )
    assert problems == []
    assert session.env["GREETING"] == "hello" and session.session is not None


def test_a_failing_command_is_reported_where_the_doc_has_it(tmp_path: Path) -> None:
    _, problems = _run(tmp_path, "text\n\n```sh\ncopass-router run -p nope hi\necho after\n```\n")
    assert len(problems) == 1
    assert problems[0].startswith("doc.md:4: 'copass-router run -p nope hi'\nexit 2:")
    assert "unknown provider 'nope'" in problems[0]


def test_an_unknown_program_runs_and_fails(tmp_path: Path) -> None:
    _, problems = _run(tmp_path, "```bash\nno-such-program --flag\n```\n")
    assert len(problems) == 1 and "exit 127" in problems[0]


def test_console_output_must_match_what_the_doc_shows(tmp_path: Path) -> None:
    _, problems = _run(tmp_path, "```console\n$ echo hi\nhello\n```\n")
    assert len(problems) == 1 and "the doc shows:\nhello\nit printed:\nhi" in problems[0]
    _, problems = _run(tmp_path, "```console\n$ echo hi\nhi\n```\n")
    assert problems == []


def test_a_served_router_gets_its_port_replaced_and_is_stopped(tmp_path: Path) -> None:
    session, problems = _run(
        tmp_path,
        "```sh\ncopass-router serve --port 8787\n"
        "curl -s http://127.0.0.1:8787/healthz | grep -q ok\n```\n",
    )
    assert problems == []
    (port,) = session.ports.values()
    assert port != 8787 and session.routers == [f"http://127.0.0.1:{port}"]
    assert all(b.proc.returncode == 0 for b in session.running.values())
