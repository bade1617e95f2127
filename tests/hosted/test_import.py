"""Hosted mode stays out of ``import copass_router``."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import copass_router
import copass_router.client._remote_router
heavy = sorted(m for m in ("starlette", "uvicorn", "httpx", "httpx_sse") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_importing_the_core_and_the_client_loads_no_server_or_http_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "none"


def test_the_server_package_loads_on_demand() -> None:
    code = "import copass_router.server, sys; print('starlette' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "True"
