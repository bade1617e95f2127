"""Coordination between workers: the interface, the embedded default, Redis by URL."""

from __future__ import annotations

from collections.abc import Mapping

from copass_router._errors import ConfigurationError
from copass_router._outages import CoordinatorUnavailableError, StoreUnavailableError
from copass_router.coordination._base import (
    ApprovalAnswerer,
    Coordinator,
    ForwardHandler,
    LocalCoordinator,
)
from copass_router.coordination._keys import SigningKeys

COORDINATOR_ENV = "COPASS_ROUTER_COORDINATOR"

__all__ = [
    "COORDINATOR_ENV",
    "ApprovalAnswerer",
    "Coordinator",
    "CoordinatorUnavailableError",
    "ForwardHandler",
    "LocalCoordinator",
    "SigningKeys",
    "StoreUnavailableError",
    "open_coordinator",
]


def open_coordinator(
    url: str | None = None, environ: Mapping[str, str] | None = None
) -> Coordinator:
    """The coordinator ``url`` (or ``COPASS_ROUTER_COORDINATOR``) names: unset or ``local``, the
    embedded one-process default; ``redis://`` / ``rediss://`` / ``unix://``, Redis."""
    url = url or (environ or {}).get(COORDINATOR_ENV) or "local"
    if url == "local":
        return LocalCoordinator()
    scheme = url.partition("://")[0]
    if scheme in ("redis", "rediss", "unix"):
        from copass_router.coordination._keys import WRAP_SECRET_ENV, KeyWrap
        from copass_router.coordination._redis_coordinator import RedisCoordinator

        wrap_secret = (environ or {}).get(WRAP_SECRET_ENV, "").strip()
        return RedisCoordinator(url, wrap=KeyWrap(wrap_secret) if wrap_secret else None)
    raise ConfigurationError(
        f"no coordinator for {url.split('@')[-1]!r} ({COORDINATOR_ENV}); use redis://host:6379/0 "
        "or leave it unset for one process"
    )
