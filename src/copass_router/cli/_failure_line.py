"""The one line the CLI prints for a router error: a store or coordinator that did not answer is
named by its URL (password masked), which a hosted caller's error leaves out."""

from __future__ import annotations

import os

from copass_router._errors import RouterError
from copass_router._outages import CoordinatorUnavailableError, StoreUnavailableError, masked_url


def failure_line(
    exc: RouterError, *, store_url: str | None = None, coordinator_url: str | None = None
) -> str:
    """What went wrong, on one line; the URL named when the message does not name it."""
    text = " ".join(str(exc).split())
    if "://" in text:
        return text
    if isinstance(exc, StoreUnavailableError):
        url = store_url or os.environ.get("COPASS_ROUTER_STORE", "").strip()
        if url:
            return f"session store {masked_url(url)}: {text}"
    if isinstance(exc, CoordinatorUnavailableError):
        url = coordinator_url or os.environ.get("COPASS_ROUTER_COORDINATOR", "").strip()
        if url:
            return f"coordinator {masked_url(url)}: {text}"
    return text
