"""`python -m bench` (or `make bench`): every figure, a table, and bench/results.json."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from .report import Figure, print_table, write_json

MODULES = [
    "event_overhead",
    "otel_overhead",
    "turn_latency",
    "anthropic_turn",
    "gemini_agents_turn",
    "openai_agents_turn",
    "router_turn",
    "cold_start",
    "concurrency",
    "growth",
    "resource_creation",
    "store_turn",
    "budgets",
    "budgets_workers",
    "scale_out",
    "run_log_cost",
]


def main(argv: list[str]) -> int:
    wanted = argv or MODULES
    figures: list[Figure] = []
    for name in wanted:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            print(f"(figure module bench/{name}.py is not there yet)")
            continue
        print(f"running {name} ...", flush=True)
        try:
            figures.extend(module.run())
        except Exception:
            traceback.print_exc()
            figures.append(Figure(f"{name} FAILED", float("nan"), "", ok=False))
    print()
    print_table(figures)
    write_json(figures, Path(__file__).parent / "results.json")
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
