"""Acme Chat for copass-router: hook implementations only (the backend loads on first use)."""

from __future__ import annotations

from copass_router import BackendRegistrar, EmulatorRegistrar, hookimpl


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    """Offer provider ``acme``."""
    register("acme", "copass_router_acme.backend:make_backend", description="Acme Chat")


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Offer ``copass-router emulate acme``."""
    register("acme", "copass_router_acme.emulator:serve")
