"""The README's example runs as written, with the installed plugin (docs that cannot drift)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_example_traces_a_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "asyncio.run(main())" in b)
    script = tmp_path / "example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COPASS_ROUTER_LOAD_PLUGINS": "otel"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "chat echo-1 1",
        "execute_tool order_status ",
        "chat echo-1 8",
        "invoke_agent 9",
    ]
