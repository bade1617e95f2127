"""The Agent Engine SDK's and the network's exceptions as neutral ``ProviderError``s."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from copass_router import ProviderError, get_logger, scrub

from .engine_ref import EngineRef
from .translate import PROVIDER

log = get_logger(__name__)


def aiohttp_errors() -> tuple[type[BaseException], ...]:
    """aiohttp's client errors: the google client streams through aiohttp when it is
    installed, and a cut stream then surfaces as its ClientPayloadError."""
    try:
        import aiohttp
    except ImportError:
        return ()
    return (aiohttp.ClientError,)


async def provider_call(awaitable: Any) -> Any:
    async with provider_errors(None):
        return await awaitable


class provider_errors:
    """Turn the SDK's and the network's exceptions into ProviderError (no credentials in it)."""

    def __init__(self, engine: EngineRef | None) -> None:
        self.engine = engine

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, ProviderError | asyncio.CancelledError):
            return False
        from google.genai import errors as genai_errors

        if isinstance(exc, genai_errors.APIError):
            status = int(exc.code) if isinstance(exc.code, int) else None
            hint = " (is the engine deployed here?)" if status == 404 else ""
            message = f"Agent Engine answered {exc.code} {exc.status or ''}: {exc.message or ''}"
            raise ProviderError(
                message + hint,
                provider=PROVIDER,
                status=status,
                code=str(exc.status) if exc.status else None,
            ) from exc
        if isinstance(exc, (httpx.HTTPError, ConnectionError, *aiohttp_errors())):
            log.warning("agent_engine_connection_failed", error=scrub(repr(exc)))
            raise ProviderError(
                "the connection to Agent Engine failed; the turn may be incomplete",
                provider=PROVIDER,
                code="connection_failed",
            ) from exc
        return False
