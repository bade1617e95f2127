"""copass-router plugin for Claude Managed Agents.

Only the hook implementations live here: importing this module must stay cheap, so the backend
(which imports the ``anthropic`` SDK) and the emulator (Starlette, uvicorn) are registered by
"module:attr" strings and imported on first use.
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
    """Register the ``anthropic`` backend (Claude Managed Agents)."""
    register(
        "anthropic",
        "copass_router_anthropic.backend:make_backend",
        description="Claude Managed Agents (agents, environments, sessions) via the anthropic SDK",
    )


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Register the offline Managed Agents emulator (``copass-router emulate anthropic``)."""
    register("anthropic", "copass_router_anthropic.emulator:serve")


@hookimpl
def copass_router_register_prices(register: PriceRegistrar) -> None:
    """Register Claude list prices (see prices.py)."""
    from .prices import register_prices

    register_prices(register)


@hookimpl
def copass_router_prepare(environ: Mapping[str, str]) -> None:
    """On a hosted server, at start-up: import the SDK and what it imports on first use."""
    from .prepare import prepare

    prepare(environ)
