"""Any argument list given to the ``copass-router`` command exits 0, 1 or 2, never a traceback.

``main(argv, out=...)`` runs in-process against a throwaway SQLite store with entry-point
plugins blocked. argparse's own refusals raise ``SystemExit(2)`` (``-h`` exits 0 after the
usage text), which is how the real command exits too. Commands that would block or touch the
machine (``serve``, ``emulate``, ``install``, ``uninstall``) are only sent with an option
they do not have, so argparse refuses them before anything runs.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from copass_router.cli import _install as install
from copass_router.cli import _main as cli
from copass_router.cli._main import BUILTIN_COMMANDS, main

from .conftest import TRACEBACK_MARKS, texts


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'cli-inputs.db'}")
    monkeypatch.setenv("COPASS_ROUTER_LOAD_PLUGINS", "")
    # A safety net: if a generated argv ever got past argparse into one of these, the test
    # fails instead of calling pip or serving forever.
    for name in ("_serve", "_emulate"):
        monkeypatch.setattr(cli, name, _must_not_run(name))
    monkeypatch.setattr(install, "_pip", _must_not_run("_pip"))


def _must_not_run(name: str) -> Callable[..., int]:
    def refuse(*args: object) -> int:
        raise AssertionError(f"cli.{name} was reached with {args!r}")

    return refuse


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout + out, stderr) of one in-process invocation."""
    code, out, err, _ = _invoke(argv)
    return code, out, err


def _invoke(argv: list[str]) -> tuple[int, str, str, bool]:
    """:func:`_run_cli` and whether argparse itself ended it."""
    out, stdout, stderr = io.StringIO(), io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv, out=out)
        except SystemExit as exc:
            assert isinstance(exc.code, int), exc.code
            code = exc.code
            shown = stdout.getvalue()
            # argparse exits 2 when it refuses, 0 only after printing the help it was asked for.
            assert code == 2 or (code == 0 and "usage: copass-router" in shown), (code, shown)
            return code, out.getvalue() + shown, stderr.getvalue(), True
    return code, out.getvalue() + stdout.getvalue(), stderr.getvalue(), False


# What a shell hands Python for bytes that are not UTF-8 (decoded with surrogateescape).
UNDECODABLE = st.binary(min_size=1, max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape"))
VALUE = st.one_of(
    st.sampled_from(["echo", "nope", "", "-", "--json", "x=y", "42"]),
    texts(max_size=30),
    UNDECODABLE,
)
MESSAGE = st.one_of(
    st.sampled_from(["hi", "/recall", "/tool lookup {}", "/error boom now", "/refuse", "/think x"]),
    texts(max_size=60).filter(lambda s: not s.lstrip().startswith("/")),
    UNDECODABLE.map(lambda s: f"hi {s}"),
)
RUN_OPTIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["--provider", "-p"]), VALUE),
        st.tuples(st.sampled_from(["--model", "-m", "--system", "-s"]), VALUE),
        st.tuples(st.sampled_from(["--session", "--end-user"]), VALUE),
        st.tuples(st.sampled_from(["--reasoning-engine-id", "--location"]), VALUE),
        st.tuples(
            st.sampled_from(["--option", "-o"]), VALUE | st.builds("{}={}".format, VALUE, VALUE)
        ),
        st.tuples(st.sampled_from(["--json", "--verbose", "-v"])),
    ),
    max_size=4,
).map(lambda groups: [token for group in groups for token in group])
RUN = st.builds(lambda message, options: ["run", message, *options], MESSAGE, RUN_OPTIONS)
LIMIT = st.one_of(st.integers(-(10**6), 10**6).map(str), st.integers().map(str), VALUE)
SESSIONS = st.one_of(
    st.just(["sessions"]),
    st.builds(
        lambda opts: ["sessions", "list", *opts],
        st.lists(st.sampled_from(["--end-user", "--limit"]), max_size=2, unique=True)
        .flatmap(
            lambda names: st.tuples(
                *(st.tuples(st.just(n), VALUE if n == "--end-user" else LIMIT) for n in names)
            )
        )
        .map(lambda groups: [t for g in groups for t in g]),
    ),
    st.builds(
        lambda sid, opts: ["sessions", "show", sid, *opts],
        VALUE,
        st.lists(st.sampled_from(["--json", "--end-user", "u1"]), max_size=3),
    ),
)
LISTINGS = st.builds(
    lambda cmd, flags: [cmd, *flags],
    st.sampled_from(["providers", "plugins"]),
    st.lists(st.sampled_from(["--json", "-v", "x"]), max_size=2),
)
REFUSED = st.builds(
    lambda cmd, rest: [cmd, *rest, "--no-such-option-for-this-test"],
    st.sampled_from(["serve", "emulate", "install", "uninstall"]),
    # No "--": after it the refused option would become a positional argument.
    st.lists(st.sampled_from(["--port", "0", "anthropic", "--host", "x", "-U"]), max_size=3),
)
ANYTHING = st.lists(VALUE, max_size=5).filter(
    lambda argv: not argv or argv[0] not in ("serve", "emulate", "install", "uninstall")
)
ARGV = st.one_of(RUN, RUN, RUN, SESSIONS, LISTINGS, REFUSED, ANYTHING)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(ARGV)
def test_any_arguments_exit_0_1_or_2_without_a_traceback(argv: list[str]) -> None:
    note(f"argv={argv!r}")
    code, out, err, by_argparse = _invoke(argv)
    note(f"code={code} err={err[-300:]!r}")
    command = argv[0] if argv and argv[0] in BUILTIN_COMMANDS else "other"
    event(f"{command}: {'argparse ' if by_argparse else ''}exit {code}")
    assert code in (0, 1, 2)
    for mark in TRACEBACK_MARKS:
        assert mark not in err and mark not in out
    if code == 2 and "usage: copass-router" not in err:
        assert err.startswith("copass-router: "), err  # one line saying what is wrong
    if argv[:1] == ["run"] and code == 0:
        assert "] tokens in=" in out or '"type":"run_finished"' in out, out


def test_a_run_and_its_session_survive_bad_arguments_around_them() -> None:
    code, out, _ = _run_cli(["run", "--json", "first words"])
    assert code == 0
    session = json.loads(out.splitlines()[0])["session_id"]
    for argv in (
        ["run", "--session", session, "--end-user", "bad id", "x"],
        ["run", "--session", session, "-o", "=x", "x"],
        ["run", "--session", session, "-p", "nope", "x"],
    ):
        assert _run_cli(argv)[0] == 2
    code, out, _ = _run_cli(["sessions", "show", session])
    assert code == 0 and out.count("(completed)") == 1 and "user: first words" in out


def test_bare_sessions_lists_them() -> None:
    assert _run_cli(["sessions"])[0] == 0


def test_a_huge_limit_is_refused() -> None:
    assert _run_cli(["sessions", "list", "--limit", str(10**30)])[0] == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list", "--end-user", "\udcff"],
        ["sessions", "show", "ses_x", "--end-user", "\udcff"],
        ["sessions", "show", "\udcff"],
    ],
)
def test_undecodable_arguments_exit_2(argv: list[str]) -> None:
    assert _run_cli(argv)[0] == 2
