"""What a provider plugin uses to get ready before its first run (``copass_router_prepare``).

A hosted server calls each plugin's ``copass_router_prepare`` hook in a thread at start-up. A
plugin imports there what its first run would import on the event loop (:func:`import_available`)
and loads the TLS settings its clients share (:func:`shared_tls_context`).
"""

from __future__ import annotations

import importlib
import os
import ssl
import threading
from collections.abc import Iterable

#: What the SDKs' HTTP stack (httpx on httpcore, h11 and anyio) imports on its first request.
HTTP_STACK = (
    "httpcore",
    "httpcore2",
    "h11",
    "anyio.streams.memory",
    "anyio.streams.tls",
    "anyio._backends._asyncio",
    "anyio._core._synchronization",
)

_tls_lock = threading.Lock()
_tls: list[ssl.SSLContext] = []


def shared_tls_context() -> ssl.SSLContext:
    """How provider clients verify servers: certifi's CA bundle unless ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` say otherwise, as the HTTP libraries do by default. Loaded once per process
    and shared by every client: reading the bundle takes tens of milliseconds and holds the
    interpreter lock throughout, so even in a thread it stalls the event loop. A router loads
    it before a provider's first run, in the thread importing the backend, when the backend's
    module imports this function."""
    with _tls_lock:
        if not _tls:
            import certifi

            cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
            capath = os.environ.get("SSL_CERT_DIR") or None
            _tls.append(ssl.create_default_context(cafile=cafile, capath=capath))
        return _tls[0]


def import_available(modules: Iterable[str]) -> None:
    """Import each module named, in order, then the HTTP stack's lazily imported modules,
    skipping those the installed versions lack."""
    for name in (*modules, *HTTP_STACK):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
