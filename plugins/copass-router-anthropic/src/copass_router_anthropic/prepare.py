"""What a hosted server imports at start-up for the anthropic provider (``copass_router_prepare``).

The ``anthropic`` SDK imports its resources on first use (``client.beta`` and what is under
it), and its HTTP client imports its connection pool and async backend on the first request:
on a server that is the first run's event loop, stalling every other client. Importing them in
the server's start-up thread leaves the first run nothing to import (nor the
stream's event models to build); the TLS settings
are loaded there too, once, for every client (:func:`tls_context`).
"""

from __future__ import annotations

import importlib
import ssl
import threading
import typing
from collections.abc import Mapping
from typing import Any

#: The modules a first run imports: the backend (and the SDK with it), then what the SDK and
#: its HTTP stack import lazily. Those a version does not have are skipped.
MODULES = (
    "copass_router_anthropic.backend",
    "anthropic.resources.beta",
    "anthropic.resources.beta.sessions",
    "anthropic.resources.beta.environments",
    "anthropic.resources.beta.agents",
    "anthropic.lib.streaming",
    "anthropic.pagination",
    "httpcore",
    "h11",
    "anyio.streams.memory",
    "anyio.streams.tls",
    "anyio._backends._asyncio",
    "anyio._core._synchronization",
)


_tls_lock = threading.Lock()
_tls: list[ssl.SSLContext] = []


def tls_context() -> ssl.SSLContext:
    """How every client of this plugin verifies servers (the HTTP library's defaults, the
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` variables included). Loaded once and shared: reading
    the CA bundle takes tens of milliseconds and holds the interpreter lock throughout, so
    even in a thread it stalls the event loop (each SDK client would load its own)."""
    with _tls_lock:
        if not _tls:
            try:
                from httpx2 import create_ssl_context
            except ImportError:  # an SDK version on httpx
                from httpx import create_ssl_context
            _tls.append(create_ssl_context())
        return _tls[0]


def prepare(environ: Mapping[str, str]) -> None:
    """Import what a first anthropic run would, when the provider has a key."""
    if not environ.get("ANTHROPIC_API_KEY"):
        return
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    tls_context()
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
