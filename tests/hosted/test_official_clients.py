"""The protocols' official clients from node (the ``openai`` and ``@ag-ui/client`` npm
packages, installed by ``make test`` from tests/clients/package-lock.json) against a real hosted
router; skipped when node is not installed."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import KEY_ALPHA, Hosted

CLIENTS = Path(__file__).parent.parent / "clients"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (npm clients)")


async def run_node(script: str, hosted: Hosted) -> dict[str, Any]:
    assert (CLIENTS / "node_modules").is_dir(), (
        "the npm clients are not installed: `make test` runs `npm ci` in tests/clients"
    )
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENTS / script),
        hosted.url,
        KEY_ALPHA,
        cwd=CLIENTS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_the_openai_npm_client_speaks_to_v1_responses(hosted: Hosted) -> None:
    seen = await run_node("responses.mjs", hosted)
    assert seen["created"]["status"] == "completed"
    assert seen["created"]["text"] == "echo: hello from node"
    assert seen["created"]["usage"]["output_tokens"] > 0
    types = seen["streamed"]["types"]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "user: hello from node" in seen["streamed"]["text"]  # previous_response_id
    assert seen["background"]["status"] == "in_progress"
    resumed = seen["background"]["resumed"]
    assert resumed[0] == 3 and resumed == list(range(3, 3 + len(resumed)))
    assert seen["background"]["finished"] == "completed"
    assert seen["error"]["status"] == 422
    assert seen["error"]["code"] == "unknown_provider"


async def test_the_agui_npm_client_runs_a_thread(hosted: Hosted) -> None:
    seen = await run_node("agui.mjs", hosted)
    assert hosted.counter.calls == [{"city": "Lima"}]  # the tool ran once, in the router
    types = seen["types"]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    for kind in ("TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"):
        assert kind in types
    roles = [m["role"] for m in seen["first"]]
    assert roles[-1] == "assistant" and "tool" in roles
    assert seen["first"][-1]["content"] == "tool results: lookup -> sunny in Lima"
    assert any("user: /tool lookup" in (text or "") for text in seen["second"])
    assert seen["third"] == ["echo: late words"]
    assert seen["state"]["copassRouter"]["provider"] == "echo"
    assert seen["reloaded"][:2] == ["user", "assistant"]  # the snapshot of a reloaded thread
