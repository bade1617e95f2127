"""What a hosted server imports at start-up for the openai providers (``copass_router_prepare``).

The ``openai`` SDK imports some of its parts on first use (the chat completions resource and
its stream helpers, the HTTP client's connection pool and the async backend under it): on a
server that is the first run's event loop, stalling every other client. Importing them in the
server's start-up thread leaves the first run nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping

from copass_router import import_available, shared_tls_context

#: Any of these set means an openai provider is configured on this server.
CONFIGURED_BY = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL",
    "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL",
)
#: The modules a first run imports, in order: the backends (and the SDK with them), then
#: what the SDK imports lazily (``import_available`` adds the HTTP stack's); missing ones skipped.
MODULES = (
    "copass_router_openai.backend",
    "copass_router_openai.agents_backend",
    "openai.resources.chat",
    "openai.resources.chat.completions",
    "openai.resources.responses",
    "openai.resources.conversations",
    "openai.lib.streaming.chat",
    "openai.pagination",
)


def prepare(environ: Mapping[str, str]) -> None:
    """Import what a first openai run would, when an openai provider is configured."""
    if not any(environ.get(name) for name in CONFIGURED_BY):
        return
    import_available(MODULES)
    shared_tls_context()
