"""Run a provider emulator in its own process, as the real provider would be: sharing the
benchmark's interpreter (and its GIL) would charge the emulator's work to whoever waits."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process(provider: str) -> Iterator[str]:
    """Start ``copass-router emulate PROVIDER`` on a free port; yield ``http://127.0.0.1:PORT``."""
    port = _free_port()
    exe = shutil.which("copass-router") or str(Path(sys.executable).parent / "copass-router")
    proc = subprocess.Popen(
        [exe, "emulate", provider, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the {provider} emulator did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
