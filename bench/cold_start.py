"""Figure 3: cold start with every plugin installed, as ratios to baselines timed in the same run.

Every command runs once per round, round after round (interleaved, so a busy moment of a shared
machine hits all alike); each figure is the median over the rounds, with the spread in its
detail. The provider SDKs' own imports are references.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .report import Figure

ROUNDS = 15


def _commands() -> dict[str, list[str]]:
    py = sys.executable
    exe = shutil.which("copass-router") or str(Path(py).parent / "copass-router")
    return {
        "python -c pass": [py, "-c", "pass"],
        "import asyncio": [py, "-c", "import asyncio"],
        "import copass_router": [py, "-c", "import copass_router"],
        "from copass_router import Router": [py, "-c", "from copass_router import Router"],
        "copass-router --help": [exe, "--help"],
        "copass-router providers": [exe, "providers"],
    }


def _rounds(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    # Warm: bytecode written, entry points cached. An installed package has its bytecode (pip
    # compiles it at install); with PYTHONDONTWRITEBYTECODE set, an editable checkout would
    # instead compile every module of the core and the plugins again on every start.
    warm = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for argv in commands.values():
        subprocess.run(argv, check=True, capture_output=True, env=warm)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def _ratio(samples: dict[str, list[float]], name: str, base: str, target: float | None) -> Figure:
    ratios = sorted(a / b for a, b in zip(samples[name], samples[base], strict=True))
    value = statistics.median(ratios)
    return Figure(
        f"3. {name} / {base}",
        value,
        "x",
        f"<= {target:g}x" if target else "",
        value <= target if target else None,
        {
            "ms": statistics.median(samples[name]),
            "base_ms": statistics.median(samples[base]),
            "spread": [ratios[0], ratios[-1]],
        },
    )


def run() -> list[Figure]:
    """Ratios for the import and the commands, then the SDK references in milliseconds."""
    samples = _rounds(_commands(), ROUNDS)
    figures = [
        Figure(f"3. {name}", statistics.median(times), "ms") for name, times in samples.items()
    ]
    figures += [
        _ratio(samples, "import copass_router", "import asyncio", 1.5),
        _ratio(samples, "from copass_router import Router", "import asyncio", 1.5),
        _ratio(samples, "copass-router --help", "python -c pass", 5),
        _ratio(samples, "copass-router providers", "python -c pass", 5),
    ]
    for module in ("anthropic", "openai", "vertexai"):
        try:
            times = _rounds({module: [sys.executable, "-c", f"import {module}"]}, 3)[module]
        except subprocess.CalledProcessError:
            continue
        figures.append(Figure(f"3. import {module} (reference)", statistics.median(times), "ms"))
    return figures
