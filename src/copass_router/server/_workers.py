"""``copass-router serve --workers N``: N worker processes on one listening socket.

The parent binds the socket, forks N workers that each run the whole hosted router (their own
``Router``, store connections and coordinator client) on that socket, and supervises them: the
kernel spreads new connections over the workers, a worker that dies is started again, and
SIGTERM or SIGINT is passed on to every worker, which drains as ``serve`` does alone. Nothing
is shared between the workers but the socket: sessions live in the store
(``COPASS_ROUTER_STORE``) and what must be shared live in the coordinator
(``COPASS_ROUTER_COORDINATOR``); see docs/deploy.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping

#: A worker that dies this soon after starting, this many times in a row, stops everything
#: (a configuration error would otherwise be restarted forever).
QUICK_DEATH_SECONDS = 2.0
QUICK_DEATHS = 3
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_workers(workers: int, environ: Mapping[str, str]) -> str | None:
    """A warning to print when N workers run without what they need to share."""
    if workers > 1 and not environ.get("COPASS_ROUTER_COORDINATOR"):
        return (
            f"copass-router serve: {workers} workers without COPASS_ROUTER_COORDINATOR: dispatch "
            "callbacks reach only runs of the worker they land on, and each worker paces "
            "provider creates alone; set COPASS_ROUTER_COORDINATOR=redis://..."
        )
    return None


def supervise(workers: int, run_worker: Callable[[], int], environ: Mapping[str, str]) -> int:
    """Fork ``workers`` processes running ``run_worker`` and keep them running until a signal;
    returns the exit code (0 when every worker stopped cleanly)."""
    stopping: list[int] = []
    children: dict[int, float] = {}

    def forward(sig: int, _frame: object) -> None:
        stopping.append(sig)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    previous = {sig: signal.signal(sig, forward) for sig in _SIGNALS}
    warning = check_workers(workers, environ)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    quick = 0
    code = 0
    try:
        for _ in range(workers):
            if not stopping:  # a signal during start-up: start no more
                _fork(run_worker, children)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
                continue
            started = children.pop(pid, None)
            if started is None:
                continue
            exit_code = os.waitstatus_to_exitcode(status)
            if stopping:
                code = code or (exit_code if exit_code > 0 else 0)
                continue
            print(
                f"copass-router serve: worker {pid} exited ({exit_code}); starting another",
                file=sys.stderr,
                flush=True,
            )
            quick = quick + 1 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0
            if quick >= QUICK_DEATHS:
                forward(signal.SIGTERM, None)
                code = exit_code if exit_code > 0 else 1
                continue
            _fork(run_worker, children)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _fork(run_worker: Callable[[], int], children: dict[int, float]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # Signals wait until the child is counted (parent) or has its own handlers (worker).
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    pid = os.fork()
    if pid:
        children[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        return
    # The worker: its own process group (a terminal's Ctrl-C reaches the parent, which passes
    # it on once), the default signal handlers until serve installs its own.
    code = 1
    try:
        os.setpgid(0, 0)
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        _exit_with_parent(os.getppid())
        code = run_worker()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_with_parent(parent: int) -> None:
    """Stop this worker (SIGTERM: it drains) if the supervisor dies without saying so."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="copass-parent-watch", daemon=True).start()
