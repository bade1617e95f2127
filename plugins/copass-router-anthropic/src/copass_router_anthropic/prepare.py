"""What a hosted server imports at start-up for the anthropic provider (``copass_router_prepare``).

The ``anthropic`` SDK imports its resources on first use (``client.beta`` and what is under
it), and its HTTP client imports its connection pool and async backend on the first request:
on a server that is the first run's event loop, stalling every other client. Importing them in
the server's start-up thread leaves the first run nothing to import (nor the
stream's event models to build); the TLS settings
are loaded there too, once, for every client (``shared_tls_context``).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from copass_router import import_available, shared_tls_context

#: The modules a first run imports: the backend (and the SDK with it), then what the SDK
#: imports lazily (``import_available`` adds the HTTP stack's). Those missing are skipped.
MODULES = (
    "copass_router_anthropic.backend",
    "anthropic.resources.beta",
    "anthropic.resources.beta.sessions",
    "anthropic.resources.beta.environments",
    "anthropic.resources.beta.agents",
    "anthropic.lib.streaming",
    "anthropic.pagination",
)


def prepare(environ: Mapping[str, str]) -> None:
    """Import what a first anthropic run would, when the provider has a key."""
    if not environ.get("ANTHROPIC_API_KEY"):
        return
    import_available(MODULES)
    shared_tls_context()
    _stream_event_models()


def _stream_event_models() -> None:
    """Build the session stream's event models now: the SDK's models build their validators
    on first use (hundreds of milliseconds for the stream's ~160), holding the interpreter lock
    throughout, which would stall the loop when a run's first events arrive."""
    import pydantic
    from anthropic.types.beta.sessions import BetaManagedAgentsStreamSessionEvents

    models: set[type[pydantic.BaseModel]] = set()

    def collect(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            if annotation not in models:
                models.add(annotation)
                for field in annotation.model_fields.values():
                    collect(field.annotation)
            return
        for argument in typing.get_args(annotation):
            collect(argument)

    collect(BetaManagedAgentsStreamSessionEvents)
    for model in models:
        if not model.__pydantic_complete__:
            model.model_rebuild(raise_errors=False)
