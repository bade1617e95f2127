"""copass-router providers for Google: ``google`` (Vertex AI Agent Engine, ADK agents with the
copass_dispatch proxy) and ``gemini-agents`` (Gemini's Interactions API).

This module only registers hooks: the Google SDKs (seconds to import) load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from copass_router import (
    BackendRegistrar,
    CommandRegistrar,
    EmulatorRegistrar,
    PriceRegistrar,
    hookimpl,
)

from .fields import ENGINE_FIELDS

if TYPE_CHECKING:
    from .deploy import deploy_adk_agent as deploy_adk_agent

__all__ = ["deploy_adk_agent"]


def __getattr__(name: str) -> Any:
    # deploy_adk_agent lives beside the SDK imports; load it only when asked for.
    if name == "deploy_adk_agent":
        from .deploy import deploy_adk_agent

        return deploy_adk_agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    """Register ``google`` (Vertex AI Agent Engine) and ``gemini-agents`` (Interactions API)."""
    register(
        "google",
        "copass_router_google.backend:make_backend",
        description="Vertex AI Agent Engine: deployed ADK agents, run by reasoning_engine_id",
        fields=ENGINE_FIELDS,
    )
    register(
        "gemini-agents",
        "copass_router_google.interactions_backend:make_backend",
        description="Gemini's Interactions API (GEMINI_API_KEY; GEMINI_BASE_URL optional)",
    )


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Offer ``copass-router emulate google`` and ``copass-router emulate gemini-agents``."""
    register("google", "copass_router_google.emulator:serve")
    register("gemini-agents", "copass_router_google.emulator.interactions:serve")


@hookimpl
def copass_router_register_commands(register: CommandRegistrar) -> None:
    """Add ``copass-router google deploy ...``."""
    register("google", _google_command, help="deploy ADK agents to Vertex AI Agent Engine")


def _google_command(argv: list[str]) -> int:
    from .cli import main

    return main(argv)


@hookimpl
def copass_router_register_prices(register: PriceRegistrar) -> None:
    """Register Gemini list prices for both providers (see prices.py)."""
    from .prices import register_prices

    register_prices(register)


@hookimpl
def copass_router_prepare(environ: Mapping[str, str]) -> None:
    """On a hosted server, at start-up: import the Google SDKs and what they import on use."""
    from .prepare import prepare

    prepare(environ)
