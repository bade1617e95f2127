"""The run contract, measured per provider against its emulator (not a speed figure).

For each provider: what the emulator's model saw for a per-run system prompt and model
(``/whoami``), and how many tool calls a model that keeps calling tools made under
``max_tool_rounds=2`` (``/loop``), with the stop reason. Run: ``python -m bench.contract``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from copass_router import Message, Router, RunFinished, RunStarted, ToolCall, tool

SYSTEM = "PER-RUN PROMPT: answer in one line."
MODELS = {
    "echo": "echo-2",
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-3.1-flash",
    "openai-compatible": "qwen2.5",
    "acme": "acme-2",
}


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


@contextlib.contextmanager
def _emulators() -> Iterator[tuple[dict[str, str], Any]]:
    from copass_router_acme.emulator import running_emulator as acme
    from copass_router_anthropic.emulator import running_emulator as anthropic
    from copass_router_google.emulator import running_emulator as google
    from copass_router_openai.emulator import running_emulator as openai

    key = "sk-ant-contract-0123456789"
    with anthropic(api_key=key) as a, google() as g, openai() as o, acme() as m:
        yield (
            {
                "ANTHROPIC_API_KEY": key,
                "ANTHROPIC_BASE_URL": a.base_url,
                "COPASS_ROUTER_GOOGLE_BASE_URL": g.base_url,
                "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "contract-token",
                "GOOGLE_CLOUD_PROJECT": "contract-project",
                "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": o.base_url,
                "ACME_BASE_URL": m.base_url,
                "ACME_API_KEY": "acme-key",
            },
            g,
        )


async def _measure(environ: dict[str, str], google: Any) -> list[tuple[str, str, str, int, str]]:
    router = Router(environ=environ, store=":memory:", tools=[ping])
    server = await router.start_dispatch_server()
    engine = google.add_engine(system_prompt="DEPLOY-TIME PROMPT", dispatch_url=router.dispatch_url)
    rows = []
    try:
        for provider, model in MODELS.items():
            fields: dict[str, Any] = {"provider": provider, "reasoning_engine_id": engine}
            seen = [
                e async for e in router.run(message="/whoami", system=SYSTEM, model=model, **fields)
            ]
            said = "".join(e.text for e in seen if isinstance(e, Message)).replace("\n", " ")
            started = next(e for e in seen if isinstance(e, RunStarted))
            looped = [
                e
                async for e in router.run(
                    message="/loop ping {}", max_tool_rounds=2, timeout=30, **fields
                )
            ]
            calls = sum(isinstance(e, ToolCall) for e in looped)
            stop = next(e for e in looped if isinstance(e, RunFinished)).stop_reason.value
            rows.append((provider, started.model, said[:90], calls, stop))
    finally:
        await server.aclose()
        await router.aclose()
    return rows


def main() -> int:
    with _emulators() as (environ, google):
        rows = asyncio.run(_measure(environ, google))
    out = sys.stdout
    out.write(f"per-run system={SYSTEM!r}, model per provider; /loop under max_tool_rounds=2\n")
    for provider, started, said, calls, stop in rows:
        out.write(f"{provider:<18} RunStarted.model={started:<18} model saw: {said}\n")
        out.write(f"{'':<18} looping model: {calls} tool calls, stop {stop}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
