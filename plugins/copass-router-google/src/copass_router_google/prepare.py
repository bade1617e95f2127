"""What a hosted server imports at start-up for the google providers (``copass_router_prepare``).

The Google SDKs take seconds to import and import more on first use (the Agent Engine client,
google-genai's errors, aiohttp for streamed queries, google-auth): on a server that is the
first run's event loop or a thread it waits on, while other clients wait. Importing them in
the server's start-up thread leaves the first run nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping

from copass_router import import_available, shared_tls_context

#: Any of these set means a google provider is configured on this server.
CONFIGURED_BY = (
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN",
    "COPASS_ROUTER_GOOGLE_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
)
#: The modules a first run imports. Those a version does not have are skipped.
MODULES = (
    "copass_router_google.backend",
    "copass_router_google.interactions_backend",
    "google.auth",
    "google.oauth2.credentials",
    "google.genai.errors",
    "agentplatform",
    "aiohttp",
)


def prepare(environ: Mapping[str, str]) -> None:
    """Import what a first google run would, when a google provider is configured."""
    if not any(environ.get(name) for name in CONFIGURED_BY):
        return
    import_available(MODULES)
    shared_tls_context()
