"""The README's main command: the cross-provider demo runs offline with no keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[2] / "examples" / "demo.py"


def test_the_demo_runs_offline_across_five_providers(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and not k.startswith("COPASS_")
    }
    env["COPASS_ROUTER_STORE"] = f"sqlite:///{tmp_path / 'demo.db'}"
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "running offline" in out
    for provider in (
        "[anthropic/",
        "[google/",
        "[gemini-agents/",
        "[openai-agents/",
        "[openai-compatible/",
    ):
        assert provider in out
    assert out.count("[end_turn]") == 5
    recall = out.split(">>> openai-compatible: /recall", 1)[1]
    assert 'tool_result order_status: {"order_id": "A-1001", "status": "shipped"}' in recall
    assert 'tool_result order_status: {"order_id": "B-2002", "status": "packing"}' in recall
    assert 'tool_result order_status: {"order_id": "C-3003", "status": "delivered"}' in recall
    assert 'tool_result order_status: {"order_id": "D-4004", "status": "held"}' in recall
    sessions = {line.split()[-1] for line in out.splitlines() if line.startswith("[end_turn]")}
    assert len(sessions) == 1, "one session across the five providers"
