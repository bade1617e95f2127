"""Collecting figures: each has a value, a target and a pass/miss mark."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs


@attrs.define
class Figure:
    """One measured figure."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    detail: dict[str, Any] = attrs.field(factory=dict)


def median_of(runs: int, fn: Callable[[], float]) -> float:
    """The median of ``runs`` calls of ``fn``."""
    return statistics.median(fn() for _ in range(runs))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def print_table(figures: list[Figure]) -> None:
    """The figures as a table on stdout."""
    width = max(len(f.name) for f in figures)
    for f in figures:
        mark = {True: "pass", False: "MISS", None: "    "}[f.ok]
        print(f"{mark}  {f.name:<{width}}  {f.value:>12.3f} {f.unit:<8} {f.target}")


def write_json(figures: list[Figure], path: Path) -> None:
    """bench/results.json."""
    data = {"machine": machine(), "figures": [attrs.asdict(f) for f in figures]}
    path.write_text(json.dumps(data, indent=2) + "\n")
