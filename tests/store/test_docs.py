"""docs/stores.md: its shell commands run as written, on each store."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "stores.md"
BIN = Path(sys.executable).parent


def commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_commands_run_as_written(store_url: str, tmp_path: Path) -> None:
    lines = commands()
    assert lines[0].startswith("pip install -e '.[postgres]'")  # installed by make setup
    assert lines[1].startswith("export COPASS_ROUTER_STORE=postgresql://")
    env = {**os.environ, "COPASS_ROUTER_STORE": store_url, "HOME": str(tmp_path)}
    env["COPASS_ROUTER_LOAD_PLUGINS"] = ""  # the built-in echo is enough
    outputs = []
    for line in lines[2:]:
        argv = shlex.split(line)
        assert argv[0] == "copass-router", line
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, (line, result.stderr)
        outputs.append(result.stdout)
    from copass_router.store import _postgres_schema, _sqlite_schema

    latest = (
        len(_sqlite_schema.MIGRATIONS)
        if store_url.startswith("sqlite")
        else _postgres_schema.MIGRATIONS[-1][0]
    )
    every = ", ".join(str(v) for v in range(1, latest + 1))
    assert outputs[0].strip() == f"applied migrations: {every}"
    assert "echo: hello" in outputs[1]
    assert "local" in outputs[2]
