"""Every first-party provider on its emulator, for the tests that run one tool set on all of
them: the emulators (one set per test module), the environment that points each SDK at its
emulator, and the run fields each provider needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from copass_router_anthropic.emulator import running_emulator as anthropic_emulator
from copass_router_google.emulator import running_emulator as google_emulator
from copass_router_google.emulator.interactions import running_emulator as gemini_emulator
from copass_router_openai.emulator import running_emulator as openai_emulator
from copass_router_openai.emulator.agents import running_emulator as agents_emulator

ANTHROPIC_KEY = "sk-ant-api03-INTEGRATIONS0123456789ab"
OPENAI_KEY = "sk-integrations-0123456789abcdef"
GEMINI_KEY = "gemini-integrations-0123456789abcdef"
PROJECT = "integrations-project"
PROVIDERS = [
    "anthropic",
    "google",
    "gemini-agents",
    "openai",
    "openai-agents",
    "openai-compatible",
    "echo",
]


@contextlib.contextmanager
def every_emulator() -> Iterator[dict[str, Any]]:
    """Each vendor's emulator, running, by name."""
    with (
        anthropic_emulator(api_key=ANTHROPIC_KEY) as anthropic,
        google_emulator() as google,
        gemini_emulator(api_key=GEMINI_KEY) as gemini,
        openai_emulator(api_key=OPENAI_KEY) as openai,
        agents_emulator(api_key=OPENAI_KEY) as agents,
    ):
        yield {
            "anthropic": anthropic,
            "google": google,
            "gemini": gemini,
            "openai": openai,
            "agents": agents,
        }


def provider_environ(emulators: dict[str, Any]) -> dict[str, str]:
    """The environment that sends every provider's SDK to its emulator."""
    return {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": emulators["anthropic"].base_url,
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulators["google"].base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": emulators["gemini"].base_url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": emulators["openai"].base_url,
        "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": emulators["agents"].base_url,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emulators["openai"].base_url,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": OPENAI_KEY,
    }


def provider_fields(provider: str, engine: str) -> dict[str, Any]:
    """The run fields ``provider`` needs here (google's engine, openai's model)."""
    fields: dict[str, Any] = {"provider": provider}
    if provider == "google":
        fields["reasoning_engine_id"] = engine
    if provider.startswith("openai"):
        fields["model"] = "gpt-test"
    return fields
