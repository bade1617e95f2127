"""The main job: one conversation that moves anthropic -> google -> gemini-agents ->
openai-agents -> openai-compatible: every vendor's hosted agent runtime, then a local model.

`make demo` runs it offline: each provider's emulator starts on loopback and the real provider
SDKs talk to it; the scripted model follows the command syntax in docs/scripted-model.md. With
real credentials in the environment the same program runs on the real providers:

    ANTHROPIC_API_KEY=...                         Claude Managed Agents
    COPASS_DEMO_REASONING_ENGINE_ID=projects/...  a Vertex AI agent deployed with
                                                  `copass-router google deploy` (and ADC)
    GEMINI_API_KEY=...                            Gemini's Interactions API
    OPENAI_API_KEY=...                            the OpenAI Agents API
    COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL=http://localhost:11434/v1   e.g. Ollama
    COPASS_DEMO_OPENAI_MODEL=llama3.2

The tool runs in the router whichever provider calls it, and each provider sees the whole
conversation so far: watch the third turn recall what the first two did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from copass_router import EventPrinter, Router, RunStarted, tool


@tool
def order_status(order_id: str) -> dict[str, str]:
    """Where an order is."""
    known = {"A-1001": "shipped", "B-2002": "packing", "C-3003": "delivered", "D-4004": "held"}
    status = known.get(order_id, "unknown")
    return {"order_id": order_id, "status": status}


SYSTEM = "You are a support agent. Use the order_status tool to look orders up."
OFFLINE_TURNS = [
    ("anthropic", '/tool order_status {"order_id": "A-1001"}'),
    ("google", '/tool order_status {"order_id": "B-2002"}'),
    ("gemini-agents", '/tool order_status {"order_id": "D-4004"}'),
    ("openai-agents", '/tool order_status {"order_id": "C-3003"}'),
    ("openai-compatible", "/recall"),
]
ONLINE_TURNS = [
    ("anthropic", "Where is my order A-1001?"),
    ("google", "And order B-2002?"),
    ("gemini-agents", "And order D-4004?"),
    ("openai-agents", "And order C-3003?"),
    ("openai-compatible", "Summarise the four orders in one sentence."),
]


def _online() -> bool:
    return all(
        os.environ.get(name)
        for name in (
            "ANTHROPIC_API_KEY",
            "COPASS_DEMO_REASONING_ENGINE_ID",
            "GEMINI_API_KEY",
            "OPENAI_API_KEY",
            "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL",
        )
    )


@contextlib.contextmanager
def _emulators() -> Iterator[tuple[dict[str, str], Any]]:
    """Start the emulators in this process; yield the environment that points at them, and
    the google emulator (the demo agent is deployed on it once the router is up)."""
    from copass_router_anthropic.emulator import running_emulator as anthropic
    from copass_router_google.emulator import running_emulator as google
    from copass_router_google.emulator.interactions import running_emulator as gemini
    from copass_router_openai.emulator import running_emulator as openai
    from copass_router_openai.emulator.agents import running_emulator as agents

    key = "sk-ant-demo-offline-key"
    with (
        anthropic(api_key=key) as claude,
        google() as vertex,
        gemini(api_key="gemini-demo-offline-key") as interactions,
        agents() as managed,
        openai() as local,
    ):
        environ = {
            "ANTHROPIC_API_KEY": key,
            "ANTHROPIC_BASE_URL": claude.base_url,
            "COPASS_ROUTER_GOOGLE_BASE_URL": vertex.base_url,
            "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "offline-token",
            "GOOGLE_CLOUD_PROJECT": "demo-project",
            "GEMINI_API_KEY": "gemini-demo-offline-key",
            "GEMINI_BASE_URL": interactions.base_url,
            "OPENAI_API_KEY": "sk-demo-offline-key",
            "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": managed.base_url,
            "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": local.base_url,
            # where the caller keeps sessions (empty: the user data directory)
            "COPASS_ROUTER_STORE": os.environ.get("COPASS_ROUTER_STORE", ""),
        }
        if os.environ.get("COPASS_ROUTER_STORE"):  # the store `copass-router sessions` reads
            environ["COPASS_ROUTER_STORE"] = os.environ["COPASS_ROUTER_STORE"]
        yield environ, vertex


async def converse(
    environ: dict[str, str], turns: list[tuple[str, str]], engine: str = "", emulator: Any = None
) -> int:
    """Run the turns as one session, printing one event stream."""
    router = Router(environ=environ, tools=[order_status])
    server = await router.start_dispatch_server()  # where the google agent's tool calls land
    if emulator is not None:  # offline: deploy the demo agent, calling back to this router
        engine = emulator.add_engine(
            display_name="support-agent",
            system_prompt=SYSTEM,
            dispatch_url=router.dispatch_url,
            project="demo-project",
        )
    printer = EventPrinter(sys.stdout)
    session_id: str | None = None
    try:
        for provider, message in turns:
            print(f"\n>>> {provider}: {message}")
            # One set of fields whichever provider runs: a field only google uses
            # (reasoning_engine_id) is ignored by the others.
            fields: dict[str, Any] = {
                "provider": provider,
                "message": message,
                "system": SYSTEM,
                "session_id": session_id,
                "end_user_id": "demo-user",
                "reasoning_engine_id": engine,
            }
            if provider == "openai-compatible":
                fields["model"] = environ.get("COPASS_DEMO_OPENAI_MODEL", "llama3.2")
            async for event in router.run(**fields):
                printer.show(event)
                if isinstance(event, RunStarted):
                    session_id = event.session_id
        print(
            f"\nThe transcript stays in the router: copass-router sessions show {session_id}"
            " --end-user demo-user"
        )
    finally:
        await server.aclose()
        await router.aclose()
    return 1 if printer.failed else 0


def main() -> int:
    if _online():
        environ = dict(os.environ)
        engine = environ["COPASS_DEMO_REASONING_ENGINE_ID"]
        return asyncio.run(converse(environ, ONLINE_TURNS, engine=engine))
    print("No provider credentials found: running offline against the providers' emulators.")
    with _emulators() as (environ, google_emulator):
        return asyncio.run(converse(environ, OFFLINE_TURNS, emulator=google_emulator))


if __name__ == "__main__":
    sys.exit(main())
