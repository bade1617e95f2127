"""Figure 2 for openai-agents: the smallest correct hand-written Agents API loop vs Router.run
(and serve + RemoteRouter), against the emulator in its own process, same scripted turn."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .emulator_process import emulator_process
from .report import Figure
from .turn_latency import PROMPT, compare, lookup

KEY = "sk-bench-0123456789abcdef"
SYSTEM = "Benchmark agent."
MODEL = "gpt-4.1"
TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look a key up.",
    "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
}


async def _direct(client: Any, agent_id: str) -> tuple[float, float]:
    start = time.perf_counter()
    first_text = 0.0
    sessions = client.beta.agents.sessions
    stream = await sessions.create(
        stream=True, agent_id=agent_id, environment={"type": "none"}, input=PROMPT
    )
    ended = False
    async for event in stream:
        kind = getattr(event, "type", "")
        if kind == "agent.session.turn.output_text.delta" and not first_text:
            first_text = time.perf_counter() - start
        elif kind == "agent.session.requires_action":
            for action in event.session.required_actions:
                args = action.arguments
                args = json.loads(args) if isinstance(args, str) else args
                answer = {
                    "type": "agent.session.input.tool_result",
                    "turn_id": action.turn_id,
                    "call_id": action.call_id,
                    "success": True,
                    "output": lookup.function(**args),
                }
                await sessions.events.create(event.session.id, events=[answer])
        elif kind == "agent.session.turn.completed":
            ended = True
        elif kind == "agent.session.idle" and ended:
            break
    await stream.close()
    return time.perf_counter() - start, first_text


async def _measure(base_url: str) -> list[Figure]:
    import openai

    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1", max_retries=0)
    agent = await client.beta.agents.create(
        name="bench",
        model=MODEL,
        instructions=SYSTEM,
        tools=[TOOL],  # type: ignore[list-item]
    )
    env = {"OPENAI_API_KEY": KEY, "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": f"{base_url}/v1"}
    fields = {"provider": "openai-agents", "system": SYSTEM, "model": MODEL}
    try:
        return await compare("openai-agents", lambda: _direct(client, agent.id), env, fields)
    finally:
        await client.close()


def run() -> list[Figure]:
    with emulator_process("openai-agents") as base_url:
        return asyncio.run(_measure(base_url))
