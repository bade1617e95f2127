"""An in-process router's first run of a provider reads the CA bundle off its event loop.

Reading the bundle holds the interpreter lock for tens of milliseconds: on the loop, every other
task of the application waits. Each case is a fresh interpreter, so nothing is loaded yet; the
emulators serve from this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from copass_router_anthropic.emulator import running_emulator as anthropic_emulator
from copass_router_google.emulator.interactions import running_emulator as gemini_emulator
from copass_router_openai.emulator import running_emulator as openai_emulator
from copass_router_openai.emulator.agents import running_emulator as agents_emulator

ANTHROPIC_KEY = "sk-ant-api03-FIRSTRUN0123456789abcdef"
OPENAI_KEY = "sk-first-run-0123456789abcdef"
GEMINI_KEY = "gemini-first-run-0123456789abcdef"

# Every TLS context made, and whether an event loop was running in the thread that made it.
FIRST_RUN = """
import asyncio, json, ssl, sys

from copass_router import Router

made_on_loop = []
create_default_context = ssl.create_default_context


def watched(*args, **kwargs):
    try:
        asyncio.get_running_loop()
        made_on_loop.append(True)
    except RuntimeError:
        made_on_loop.append(False)
    return create_default_context(*args, **kwargs)


ssl.create_default_context = watched


async def main() -> None:
    router = Router(store=":memory:", environ=json.loads(sys.argv[1]))
    try:
        result = await router.complete(**json.loads(sys.argv[2]))
    finally:
        await router.aclose()
    print(json.dumps({"ok": result.ok, "text": result.text, "made_on_loop": made_on_loop}))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def environ() -> Iterator[dict[str, str]]:
    with (
        anthropic_emulator(api_key=ANTHROPIC_KEY) as anthropic,
        openai_emulator(api_key=OPENAI_KEY) as openai,
        agents_emulator(api_key=OPENAI_KEY) as agents,
        gemini_emulator(api_key=GEMINI_KEY) as gemini,
    ):
        yield {
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": anthropic.base_url,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": openai.base_url,
            "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": agents.base_url,
            "GEMINI_API_KEY": GEMINI_KEY,
            "GEMINI_BASE_URL": gemini.base_url,
        }


def _first_run(environ: dict[str, str], **fields: Any) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_RUN, json.dumps(environ), json.dumps(fields)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        pytest.fail(out.stderr[-3000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "anthropic", "message": "hi"},
        {"provider": "openai", "model": "gpt-test", "message": "hi"},
        {"provider": "openai-agents", "model": "gpt-test", "message": "hi"},
        {"provider": "gemini-agents", "message": "hi"},
    ],
    ids=["anthropic", "openai", "openai-agents", "gemini-agents"],
)
def test_a_provider_s_first_run_loads_its_tls_settings_off_the_event_loop(
    environ: dict[str, str], fields: dict[str, Any]
) -> None:
    result = _first_run(environ, **fields)
    assert result["ok"], result
    # In the thread that imported the backend (with its SDK, which may make one of its own).
    assert result["made_on_loop"], "no TLS context was made"
    assert not any(result["made_on_loop"]), result["made_on_loop"]


def test_an_echo_run_loads_no_tls_settings(environ: dict[str, str]) -> None:
    result = _first_run(environ, provider="echo", message="hi")
    assert result["ok"], result
    assert result["made_on_loop"] == []
