"""What a hosted server imports at start-up for the openai providers (``copass_router_prepare``).

The ``openai`` SDK imports some of its parts on first use (the chat completions resource and
its stream helpers, the HTTP client's connection pool and the async backend under it): on a
server that is the first run's event loop, stalling every other client. Importing them in the
server's start-up thread leaves the first run nothing to import.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from collections.abc import Mapping

#: Any of these set means an openai provider is configured on this server.
CONFIGURED_BY = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL",
    "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL",
)
#: The modules a first run imports, in order: the backends (and the SDK with them), then
#: what the SDK and its HTTP stack import lazily. Those a version does not have are skipped.
MODULES = (
    "copass_router_openai.backend",
    "copass_router_openai.agents_backend",
    "openai.resources.chat",
    "openai.resources.chat.completions",
    "openai.resources.responses",
    "openai.resources.conversations",
    "openai.lib.streaming.chat",
    "openai.pagination",
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
    """Import what a first openai run would, when an openai provider is configured."""
    if not any(environ.get(name) for name in CONFIGURED_BY):
        return
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    tls_context()
