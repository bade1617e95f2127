"""Acme Chat for copass-router: hook implementations only (the backend loads on first use)."""

from __future__ import annotations

from copass_router import (
    BackendRegistrar,
    EmulatorRegistrar,
    RequestField,
    RequestOption,
    hookimpl,
)

#: Acme's own run field, declared once: registered below, and the backend's ``request_fields``.
FIELDS = (RequestField("workspace", help="the Acme workspace to bill (default: the key's own)"),)
#: The options a run may set for Acme (the backend's ``request_options``).
OPTIONS = {"safe_mode": RequestOption(bool, help="Acme's content filter")}


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    """Offer provider ``acme``."""
    backend = "copass_router_acme.backend:AcmeBackend"  # a factory: AcmeBackend(context)
    register("acme", backend, description="Acme Chat", fields=FIELDS)


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Offer ``copass-router emulate acme``."""
    register("acme", "copass_router_acme.emulator:serve")
