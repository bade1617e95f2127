"""``copass-router emulate openai-agents`` serves the Agents API to the real SDK."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import openai


async def _probe(base_url: str) -> list[str]:
    async with openai.AsyncOpenAI(api_key="sk-emulator", base_url=base_url) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                agent = await client.beta.agents.create(model="gpt-4.1")
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline, "the emulator did not start"
                await asyncio.sleep(0.1)
        assert agent.id.startswith("agent_")
        return [a.id async for a in client.beta.agents.list()]


def test_emulate_openai_agents_serves_the_sdk() -> None:
    exe = str(Path(sys.executable).parent / "copass-router")
    env = {k: v for k, v in os.environ.items() if k != "COPASS_ROUTER_LOAD_PLUGINS"}
    proc = subprocess.Popen(
        [exe, "emulate", "openai-agents", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/v1", banner)
        assert found, banner
        assert len(asyncio.run(_probe(found.group(0)))) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
