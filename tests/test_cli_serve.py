"""``copass-router serve`` as a user starts it: every flag its --help shows, through the parser."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from copass_router.cli._main import main
from copass_router.cli._parser import build_parser

KEY = "serve-test-key-0123456789"
EXE = str(Path(sys.executable).parent / "copass-router")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_flags() -> set[str]:
    (serve,) = (
        action.choices["serve"]
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return {flag for action in serve._actions for flag in action.option_strings} - {"-h", "--help"}


class Served:
    def __init__(self, proc: subprocess.Popen[str], banner: str, port: int) -> None:
        self.proc, self.banner, self.port = proc, banner, port
        self.base = f"http://127.0.0.1:{port}"

    def stop(self, sig: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


def _start(*flags: str, env: dict[str, str]) -> Served:
    port = _free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()  # printed once the socket listens
    assert banner.startswith("copass-router serving on"), banner + proc.stderr.read()
    return Served(proc, banner, port)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        **{k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")},
        "COPASS_ROUTER_API_KEYS": KEY,
        "COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'env.db'}",
        "HOME": str(tmp_path),
    }


def test_serve_help_shows_the_flags_the_tests_below_exercise() -> None:
    # A new flag fails here until it has a test below that starts the server with it.
    flags = {"--host", "--port", "--grace", "--public-url", "--store", "--max-body-bytes"}
    flags.add("--workers")  # tests/scale/test_serve_workers.py
    assert _serve_flags() == flags


def test_serve_starts_with_its_defaults_and_stops_on_sigint(env: dict[str, str]) -> None:
    served = _start(env=env)
    try:
        assert served.banner.strip() == (
            f"copass-router serving on {served.base} (dispatch: {served.base}/v1/dispatch)"
        )
        assert httpx.get(f"{served.base}/healthz").status_code == 200
        run = httpx.post(
            f"{served.base}/v1/runs",
            json={"provider": "echo", "message": "hi there"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert run.status_code == 200 and "echo: " in run.text
    finally:
        code = served.stop(signal.SIGINT)
    assert code == 0


def test_every_serve_flag_takes_effect(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "flag.db"
    served = _start(
        "--host",
        "127.0.0.1",
        "--grace",
        "0.2",
        "--public-url",
        "http://agents.example:9/",
        "--store",
        f"sqlite:///{store}",
        "--max-body-bytes",
        "2000",
        env=env,
    )
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        assert "(dispatch: http://agents.example:9/v1/dispatch)" in served.banner  # --public-url
        big = httpx.post(f"{served.base}/v1/runs", content=b"x" * 3000, headers=auth)
        assert big.status_code == 413  # --max-body-bytes
        done = httpx.post(
            f"{served.base}/v1/runs", json={"provider": "echo", "message": "stored"}, headers=auth
        )
        session = done.headers["x-copass-session-id"]
        listed = subprocess.run(
            [EXE, "sessions", "list"],
            env={**env, "COPASS_ROUTER_STORE": f"sqlite:///{store}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert session in listed.stdout  # --store (not the environment's store)
        with httpx.stream(
            "POST",
            f"{served.base}/v1/runs",
            json={"provider": "echo", "message": "/slow 5 never finishes in time"},
            headers=auth,
            timeout=30,
        ) as slow:
            frames = slow.iter_lines()
            assert next(frames).startswith("event: run_started")
            started = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            rest = "\n".join(frames)
        # --grace 0.2: the running turn is cancelled long before its 15 s of pauses end.
        assert time.monotonic() - started < 10
        assert '"code":"shutting_down"' in rest.replace(" ", "")
        assert '"stop_reason":"cancelled"' in rest.replace(" ", "")
    finally:
        code = served.stop(signal.SIGTERM)
    assert code == 0


def test_serve_refuses_a_public_host_without_keys(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "COPASS_ROUTER_API_KEYS"}
    result = subprocess.run(
        [EXE, "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--port", "http"), ("--grace", "soon"), ("--max-body-bytes", "0"), ("--grace", "-1")],
)
def test_bad_serve_flags_are_refused_by_the_parser(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", flag, value])
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err


def test_serve_help_lists_every_flag() -> None:
    result = subprocess.run([EXE, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    shown = set(re.findall(r"(--[a-z-]+)", result.stdout)) - {"--help"}
    assert shown == _serve_flags()


def test_serve_traces_with_the_standard_opentelemetry_variables(env: dict[str, str]) -> None:
    served = _start(
        env={**env, "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "svc-probe"}
    )
    try:
        run = httpx.post(
            f"{served.base}/v1/runs",
            json={"provider": "echo", "message": "traced"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert run.status_code == 200
    finally:
        code = served.stop(signal.SIGINT)
    assert code == 0
    out = served.proc.stdout.read() if served.proc.stdout else ""
    assert '"name": "invoke_agent"' in out and '"service.name": "svc-probe"' in out
