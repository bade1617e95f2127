"""copass-router providers ``openai``, ``openai-compatible`` (Ollama, vLLM, llama.cpp...) and
``openai-agents`` (the OpenAI Agents API's managed agents).

This module only registers; the ``openai`` SDK, starlette and uvicorn are imported when a run
first uses a provider or the emulator starts, so loading the plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping

from copass_router import BackendRegistrar, EmulatorRegistrar, PriceRegistrar, hookimpl

__all__ = [
    "copass_router_prepare",
    "copass_router_register_backends",
    "copass_router_register_emulators",
    "copass_router_register_prices",
]


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    """Register ``openai``, ``openai-compatible`` and ``openai-agents``."""
    register(
        "openai",
        "copass_router_openai.backend:make_openai_backend",
        description="OpenAI Chat Completions (OPENAI_API_KEY; OPENAI_BASE_URL optional)",
    )
    register(
        "openai-compatible",
        "copass_router_openai.backend:make_compatible_backend",
        description=(
            "OpenAI-compatible local or self-hosted runtimes: Ollama, vLLM, llama.cpp, LM Studio "
            "(base_url option or COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL; no key needed)"
        ),
    )
    register(
        "openai-agents",
        "copass_router_openai.agents_backend:make_backend",
        description=(
            "OpenAI Agents API managed agents (OPENAI_API_KEY; "
            "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL optional)"
        ),
    )


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Offer ``copass-router emulate openai`` (also serves the openai-compatible provider) and
    ``copass-router emulate openai-agents``."""
    register("openai", "copass_router_openai.emulator:serve")
    register("openai-agents", "copass_router_openai.emulator.agents:serve")


@hookimpl
def copass_router_register_prices(register: PriceRegistrar) -> None:
    """Register OpenAI's list prices (``openai`` and ``openai-agents``; see prices.py)."""
    from .prices import register_prices

    register_prices(register)


@hookimpl
def copass_router_prepare(environ: Mapping[str, str]) -> None:
    """On a hosted server, at start-up: import the SDK and what it imports on first use."""
    from .prepare import prepare

    prepare(environ)
