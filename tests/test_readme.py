"""The README's runnable Python example runs as written (docs that cannot drift)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_python_api_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "router.complete(" in b)
    script = tmp_path / "example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COPASS_ROUTER_STORE": ":memory:", "COPASS_ROUTER_LOAD_PLUGINS": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "echo: Hi!" in result.stdout
    assert 'tool_result order_status: {"order_id": "A-1", "status": "shipped"}' in result.stdout
