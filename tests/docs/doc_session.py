"""Runs one doc's commands in order, the way a reader types them into one shell.

Each doc gets its own temporary directory, HOME and session store, and a shell state that carries
over from command to command (``export`` persists). Rules, all in this file:

- SKIP: the only commands not run, each with its reason. A command matching no rule is run;
  if it cannot work offline it fails the test, which then asks for a fix or a SKIP entry.
- Long-running commands (``copass-router serve`` / ``emulate``) are started in the background,
  probed (the printed address, ``/healthz`` for a router) and left running for the doc's later
  commands; a later one on the same port stops the earlier with SIGINT (Ctrl-C), and whatever
  runs at the end of the doc stops with SIGTERM. Each must stop cleanly (exit 0, or by that
  signal once shut down). A doc's ``python`` program is saved as a file and run with the venv's
  ``python`` in the doc's directory (so files the doc saved import); it must exit 0, and one
  opening a ``RemoteRouter`` runs against the router the doc serves and must get to
  ``RunFinished``. A ``file`` block is saved where the doc says (``.py``: it must compile).
  ``node`` commands run when Node.js is installed (skipped, and said, when it is not).
- ``sh`` commands must exit 0 (a ``curl`` to ``/v1/runs``, ``/v1/responses``, ``/v1/agui`` or
  Copass's ``.../agents/run`` must also stream to the run's end);
  a ``console`` command must print exactly what the doc shows.
- Substitutions, so commands run side by side and offline (see ``DocSession.substitute``):
  every port a doc listens on becomes a free port (also in its URLs); ``https://router.example.com``
  becomes the doc's running router; ``ses_...`` / ``SESSION_ID`` become the session id the last
  command printing one printed first (a listing's newest); ``<dispatch port>`` becomes a free port (deploy only records it);
  ``curl`` gets ``--fail-with-body`` so an HTTP error fails; ``make`` runs in the repository
  (``make -C``: the reader is in their clone, the runner in a temporary directory), and so does
  ``.venv/bin/`` (the clone's venv is the one this suite runs in); pip reads no index
  (``PIP_NO_INDEX=1``: what a doc installs must be what ``make setup`` installed).
- Stand-ins: ``copass-router run -p PROVIDER`` (or ``provider="PROVIDER"`` in a ``python``
  program) for a real provider whose endpoint the doc has not set goes to that provider's emulator (started once for the suite), with the variables the
  emulator prints and a stand-in key. No command reaches a real provider.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .doc_commands import ROOT, Command

BIN = Path(sys.executable).parent
SKIP: tuple[tuple[str, str], ...] = (
    (r"^make setup\b", "builds the .venv this suite runs in"),
    (r"^make test\b", "runs this very suite (it would recurse)"),
    (r"^make demo\b", "make setup + examples/demo.py, which tests/portable/test_demo.py runs"),
    (r"^make bench\b", "minutes of timings by design; never part of the suite"),
    (r"^ollama ", "needs Ollama and a model download; the openai emulator stands in for it"),
    (
        r"^pip install -e '\.",
        "installs the checkout into the venv this suite runs in: make setup made that same "
        "editable install, with the extras the docs name",
    ),
)
# provider -> (emulator, the variable that points the provider at it, a stand-in key if needed)
STAND_INS: dict[str, tuple[str, str, dict[str, str]]] = {
    "anthropic": ("anthropic", "ANTHROPIC_BASE_URL", {"ANTHROPIC_API_KEY": "doc-stand-in-key"}),
    "openai": ("openai", "OPENAI_BASE_URL", {}),
    "openai-compatible": ("openai", "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL", {}),
    "google": ("google", "COPASS_ROUTER_GOOGLE_BASE_URL", {}),
    "gemini-agents": ("gemini-agents", "GEMINI_BASE_URL", {}),
    "openai-agents": (
        "openai-agents",
        "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL",
        {"OPENAI_API_KEY": "doc-stand-in-key"},
    ),
}
# What a streamed run's last frame says, per endpoint a doc's curl may call.
_STREAM_ENDS = (
    ("/v1/runs", "event: run_finished"),
    ("/v1/responses", "event: response.completed"),
    ("/v1/agui", '"type":"RUN_FINISHED"'),
    ("/agents/run", "event: agent_finish"),
)
_DROP = ("COPASS_", "ANTHROPIC_", "OPENAI_", "GOOGLE_", "GEMINI_", "PYTEST", "VIRTUAL_ENV")
_LONG = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)*copass-router\s+(serve|emulate)\b")
_PROVIDER = re.compile(r"^copass-router\s+run\b.*?(?:-p|--provider)[ =]([\w-]+)")
_ASSIGNMENTS = re.compile(r"((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)(.*)", re.S)
_SESSION = re.compile(r"\bses_[0-9a-f]{32}\b")
_ASSIGN = re.compile(r"\b([A-Z][A-Z0-9_]+)=(\S+)")
_PY_PROVIDER = re.compile(
    r"""["']([\w-]+)["']"""
)  # any quoted name: a provider if STAND_INS has it


def skip_reason(text: str) -> str | None:
    """The SKIP reason for a command, or None: it runs."""
    return next((reason for pattern, reason in SKIP if re.search(pattern, text)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(tmp: Path) -> dict[str, str]:
    """A reader's fresh shell: this venv first on PATH, nothing of ours or a provider's set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(tmp),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        COPASS_ROUTER_STORE=f"sqlite:///{tmp / 'store.db'}",
        PIP_NO_INDEX="1",
        # The docs' example provider is installed in the development environment (it is
        # tested there), never in a reader's: keep it out of what the commands print.
        COPASS_ROUTER_DISABLE_PLUGINS="acme",
    )
    return env


class Background:
    """A long-running command with its output in files (no pipe to fill up)."""

    def __init__(self, text: str, env: dict[str, str], cwd: Path, name: str) -> None:
        self.text = text
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        # exec: the signals this runner sends reach the command, not a shell around it
        assignments, command = _ASSIGNMENTS.match(text).groups()  # type: ignore[union-attr]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                ["bash", "-c", f"{assignments}exec {command}"],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.out.read_text())
            if match:
                return match
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.text!r} did not start:\n{self.output()[-2000:]}")
            time.sleep(0.05)

    def stop(self, sig: int) -> str | None:
        """Stop it with ``sig``; a problem, or None when it stopped cleanly: exit 0, or (after
        shutting down) by the signal itself, as uvicorn re-raises it, or 128 + the signal."""
        name = signal.Signals(sig).name
        if self.proc.poll() is not None:
            return (
                f"{self.text!r} exited {self.proc.returncode} before it was stopped:\n"
                + (self.output()[-2000:])
            )
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"{self.text!r} did not stop within 30 s of {name}"
        if code not in (0, -sig, 128 + sig):
            return f"{self.text!r} exited {code} on {name}:\n{self.output()[-2000:]}"
        return None


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class StandIns:
    """Provider emulators shared by every doc, started on first need."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._running: dict[str, tuple[Background, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def variables(self, emulator: str) -> dict[str, str]:
        with self._lock:
            if emulator not in self._running:
                cmd = f"copass-router emulate {emulator} --port 0"
                started = Background(cmd, base_env(self.tmp), self.tmp, f"stand-in-{emulator}")
                url = started.wait_for(r"http://127\.0\.0\.1:(\d+)")
                wait_for_port(int(url.group(1)))  # the banner is one write: it is all there
                self._running[emulator] = (started, dict(_ASSIGN.findall(started.out.read_text())))
            return dict(self._running[emulator][1])

    def close(self) -> list[str]:
        return [p for b, _ in self._running.values() if (p := b.stop(signal.SIGTERM))]


class DocSession:
    """One reader working through one doc."""

    def __init__(self, doc_commands: list[Command], tmp: Path, stand_ins: StandIns) -> None:
        self.commands = doc_commands
        self.tmp = tmp
        self.cwd = tmp
        self.env = base_env(tmp)
        self.stand_ins = stand_ins
        self.session: str | None = None
        self.routers: list[str] = []  # base URLs of the routers this doc serves
        self.running: dict[int, Background] = {}
        self.skipped: list[tuple[Command, str]] = []
        self.ports = {
            port: free_port()
            for c in doc_commands
            for port in re.findall(r"--port\s+([1-9]\d*)", c.text)
        }

    def substitute(self, text: str) -> str:
        for doc_port, port in self.ports.items():
            text = re.sub(rf"(--port\s+|:){doc_port}\b", rf"\g<1>{port}", text)
        if self.routers:
            text = text.replace("https://router.example.com", self.routers[-1])
        if self.session:
            text = re.sub(r"\bses_\.\.\.|\bSESSION_ID\b", self.session, text)
        text = text.replace("<dispatch port>", str(free_port()))
        text = re.sub(r"^make\b", f"make -C {shlex.quote(str(ROOT))}", text)
        text = re.sub(r"(^|\s)\.venv/bin/", rf"\g<1>{BIN}/", text)
        return re.sub(r"^curl\b", "curl --fail-with-body --silent --show-error", text)

    def run(self) -> list[str]:
        """Every command in order; the problems found (empty: the doc is true)."""
        problems: list[str] = []
        for command in self.commands:
            try:
                problem = self._one(command)
            except (AssertionError, OSError, subprocess.TimeoutExpired) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems.append(f"{command.where}: {command.text!r}\n{problem}")
                break
        stopped = [b.stop(signal.SIGTERM) for b in self.running.values()]
        return problems + [p for p in stopped if p and not problems]

    def _one(self, command: Command) -> str | None:
        reason = skip_reason(command.text)
        if reason:
            self.skipped.append((command, reason))
            return None
        if re.match(r"node\b", command.text) and shutil.which("node") is None:
            self.skipped.append((command, "Node.js is not installed"))
            return None
        text = self.substitute(command.text)
        if command.kind == "file":
            return self._save(text, command.path or "")
        if command.kind == "python":
            return self._python(text)
        if _LONG.match(text):
            return self._start(text, command)
        return self._shell(text, command)

    def _overlay(self, providers: list[str]) -> dict[str, str]:
        overlay: dict[str, str] = {}
        for provider in providers:
            if provider not in STAND_INS:
                continue
            emulator, endpoint, key = STAND_INS[provider]
            if endpoint in self.env:
                continue  # the doc pointed the provider somewhere itself
            found = self.stand_ins.variables(emulator)
            overlay |= {k: v for k, v in {**key, **found}.items() if k not in self.env}
        return overlay

    def _shell(self, text: str, command: Command) -> str | None:
        state = self.tmp / "state"
        script = f'{text}\n__rc=$?\nenv -0 > "{state}.env"\npwd > "{state}.cwd"\nexit $__rc\n'
        match = _PROVIDER.match(text)
        env = {**self.env, **self._overlay([match.group(1)] if match else [])}
        result = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = result.stdout + result.stderr
        self._carry_over(state, env)
        self.session = (_SESSION.findall(output) or [self.session])[0]  # a listing's newest
        if command.kind == "console":
            shown = "\n".join(line.rstrip() for line in (command.shown or "").strip().splitlines())
            got = "\n".join(line.rstrip() for line in output.strip().splitlines())
            return None if got == shown else f"the doc shows:\n{shown}\nit printed:\n{got}"
        if result.returncode != 0:
            return f"exit {result.returncode}:\n{output[-3000:]}"
        for path, end in _STREAM_ENDS:
            if text.startswith("curl") and path in text and end not in output:
                return f"the run's stream did not finish:\n{output[-3000:]}"
        return None

    def _carry_over(self, state: Path, used: dict[str, str]) -> None:
        env_file = Path(f"{state}.env")
        if not env_file.exists():
            return
        after = dict(item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
        overlay = {k for k in used if k not in self.env}
        self.env = {k: v for k, v in after.items() if k not in overlay and not k.startswith("__")}
        self.cwd = Path(Path(f"{state}.cwd").read_text().strip())
        env_file.unlink()

    def _start(self, text: str, command: Command) -> str | None:
        port_match = re.search(r"--port\s+(\d+)", text)
        port = int(port_match.group(1)) if port_match else None
        if port in self.running:  # the reader stops the earlier one first, with Ctrl-C
            problem = self.running.pop(port).stop(signal.SIGINT)
            if problem:
                return problem
        started = Background(text, self.env, self.tmp, f"bg-{command.line}")
        self.running[port or -command.line] = started
        if _LONG.match(text).group(1) == "serve":  # type: ignore[union-attr]
            base = started.wait_for(r"serving on (\S+)").group(1).replace("0.0.0.0", "127.0.0.1")
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as health:
                if health.status != 200:
                    return f"/healthz answered {health.status}"
            self.routers.append(base)
            return None
        started.wait_for(r"\S")
        if port:
            wait_for_port(port)
        return None

    def _save(self, text: str, name: str) -> str | None:
        path = self.cwd / name
        path.write_text(text)
        if name.endswith(".py"):
            try:
                compile(text, name, "exec")
            except SyntaxError as exc:
                return f"{name} does not compile as a file: {exc}"
        return None

    def _python(self, source: str) -> str | None:
        snippet = self.cwd / "doc_snippet.py"
        snippet.write_text(source)
        env = {**self.env, **self._overlay(_PY_PROVIDER.findall(source))}
        try:
            result = subprocess.run(
                [str(BIN / "python"), snippet.name],
                env=env,
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=300,  # a program may deploy an agent to an emulator: slow on a busy machine
            )
        finally:
            snippet.unlink()
        client = "RemoteRouter(" in source
        if result.returncode != 0 or (client and "RunFinished(" not in result.stdout):
            return f"exit {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}"
        return None
