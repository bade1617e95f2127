"""Figure 3: cold start with every plugin installed, beside the provider SDKs' own imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from .report import Figure

RUNS = 7


def _time(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[RUNS // 2] * 1000


def run() -> list[Figure]:
    """Milliseconds for the import, the providers command and the SDK references."""
    py = sys.executable
    baseline = _time([py, "-c", "pass"])
    figures = [
        Figure("3. python -c pass (interpreter baseline)", baseline, "ms"),
        Figure(
            "3. import copass_router", _time([py, "-c", "import copass_router"]), "ms", "< 150 ms"
        ),
    ]
    figures[-1].ok = figures[-1].value < 150
    exe = shutil.which("copass-router") or str(Path(py).parent / "copass-router")
    providers = _time([exe, "providers"])
    figures.append(
        Figure("3. copass-router providers", providers, "ms", "< 300 ms", providers < 300)
    )
    for module in ("anthropic", "openai", "vertexai"):
        try:
            figures.append(
                Figure(
                    f"3. import {module} (reference)", _time([py, "-c", f"import {module}"]), "ms"
                )
            )
        except subprocess.CalledProcessError:
            continue
    return figures
