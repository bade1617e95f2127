"""Figure 2 for gemini-agents: the smallest correct hand-written Interactions API loop (stream,
answer the function call with a function_result step on the chain) vs Router.run (and serve +
RemoteRouter), against the emulator in its own process, same scripted turn."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .emulator_process import emulator_process
from .report import Figure
from .turn_latency import PROMPT, compare, lookup

KEY = "emulator-key"
SYSTEM = "Benchmark agent."
MODEL = "gemini-2.5-flash"
TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look a key up.",
    "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
}


async def _direct(api: Any) -> tuple[float, float]:
    start = time.perf_counter()
    first_text = 0.0
    body: dict[str, Any] = {
        "input": [{"type": "user_input", "content": [{"type": "text", "text": PROMPT}]}]
    }
    while True:
        stream = await api.create(
            model=MODEL,
            system_instruction=SYSTEM,
            tools=[TOOL],
            stream=True,
            automatic_continuation=False,
            **body,
        )
        interaction, calls, pieces = "", [], {}
        async for event in stream:
            kind = event.event_type
            if kind == "interaction.created":
                interaction = event.interaction.id
            elif kind == "step.start" and event.step.type == "function_call":
                calls.append((event.index, event.step.id, event.step.name))
            elif kind == "step.delta" and event.delta.type == "arguments_delta":
                pieces[event.index] = pieces.get(event.index, "") + event.delta.arguments
            elif kind == "step.delta" and event.delta.type == "text" and not first_text:
                first_text = time.perf_counter() - start
        if not calls:
            return time.perf_counter() - start, first_text
        results = [
            {
                "type": "function_result",
                "call_id": call_id,
                "name": name,
                "result": lookup.function(**json.loads(pieces.get(index) or "{}")),
            }
            for index, call_id, name in calls
        ]
        body = {"input": results, "previous_interaction_id": interaction}


async def _measure(base_url: str) -> list[Figure]:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=base_url, api_version="v1beta")
    client = genai.Client(vertexai=False, api_key=KEY, http_options=options)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": base_url}
    fields = {"provider": "gemini-agents", "system": SYSTEM, "model": MODEL}
    try:
        return await compare("gemini-agents", lambda: _direct(client.aio.interactions), env, fields)
    finally:
        await client.aio.aclose()


def run() -> list[Figure]:
    with emulator_process("gemini-agents") as base_url:
        return asyncio.run(_measure(base_url))
