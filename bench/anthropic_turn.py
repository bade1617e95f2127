"""Figure 2 for anthropic: the smallest correct hand-written Managed Agents loop vs Router.run
(and serve + RemoteRouter), against the emulator in its own process, same scripted turn."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .emulator_process import emulator_process
from .report import Figure
from .turn_latency import PROMPT, compare, lookup

KEY = "sk-ant-bench-0123456789abcdef"
SYSTEM = "Benchmark agent."
TOOL = {
    "type": "custom",
    "name": "lookup",
    "description": "Look a key up.",
    "input_schema": {"type": "object", "properties": {"key": {"type": "string"}}},
}


async def _direct(client: Any, agent_id: str, environment_id: str) -> tuple[float, float]:
    start = time.perf_counter()
    first_text = 0.0
    events = client.beta.sessions.events
    session = await client.beta.sessions.create(agent=agent_id, environment_id=environment_id)
    stream = await events.stream(session.id, event_deltas=["agent.message"])
    user = {"type": "user.message", "content": [{"type": "text", "text": PROMPT}]}
    await events.send(session.id, events=[user])
    async for event in stream:
        kind = getattr(event, "type", "")
        if kind == "event_delta" and not first_text:
            first_text = time.perf_counter() - start
        elif kind == "agent.custom_tool_use":
            output = lookup.function(**event.input)
            answer = {
                "type": "user.custom_tool_result",
                "custom_tool_use_id": event.id,
                "content": [{"type": "text", "text": output}],
            }
            await events.send(session.id, events=[answer])
        elif kind in ("session.status_idle", "session.status_terminated") and _finished(event):
            break
    await stream.close()
    return time.perf_counter() - start, first_text


def _finished(event: Any) -> bool:
    stop = getattr(event, "stop_reason", None)
    return stop is None or stop.type != "requires_action"


async def _measure(base_url: str) -> list[Figure]:
    import anthropic

    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0)
    agent = await client.beta.agents.create(
        name="bench", model="claude-sonnet-4-6", system=SYSTEM, tools=[TOOL]
    )
    environment = await client.beta.environments.create(
        name="bench", config={"type": "cloud", "networking": {"type": "unrestricted"}}
    )
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base_url}
    fields = {"provider": "anthropic", "system": SYSTEM}
    try:
        return await compare(
            "anthropic", lambda: _direct(client, agent.id, environment.id), env, fields
        )
    finally:
        await client.close()


def run() -> list[Figure]:
    with emulator_process("anthropic") as base_url:
        return asyncio.run(_measure(base_url))
