"""The Agent Engine clients (one per location) and the engines read through them, each made
once and off the event loop (importing the SDK and loading credentials block for seconds)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from copass_router import PROVIDER_SDK_RETRIES, ProviderError, env_float, env_int, get_logger

from .deploy import ACCESS_TOKEN_ENV, BASE_URL_ENV, make_client, static_token_credentials
from .engine_errors import provider_call
from .engine_ref import EngineRef
from .translate import PROVIDER

log = get_logger(__name__)

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


class EngineClients:
    """A client per location and each engine's runtime, cached for the backend's life."""

    def __init__(self, environ: Mapping[str, str], credentials: Any = None) -> None:
        self.environ = environ
        self._credentials = credentials
        self.clients: dict[str, Any] = {}
        self.runtimes: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _http_options(self) -> dict[str, Any]:
        # The core retries what is retryable (RetryPolicy); the SDK's own are off unless asked.
        retries = env_int(self.environ, "COPASS_ROUTER_GOOGLE_MAX_RETRIES", PROVIDER_SDK_RETRIES)
        delay = env_float(self.environ, "COPASS_ROUTER_GOOGLE_RETRY_DELAY", 1.0)
        options: dict[str, Any] = {
            # Only a refused request is retried (for a stream: before any event was sent).
            "retry_options": {
                "attempts": retries + 1,
                "initial_delay": delay,
                "max_delay": max(delay, 30.0),
                "jitter": delay,
                "http_status_codes": list(RETRY_STATUSES),
            }
        }
        timeout = env_float(self.environ, "COPASS_ROUTER_GOOGLE_TIMEOUT", 0.0)
        if timeout:
            options["timeout"] = int(timeout * 1000)  # the SDK counts milliseconds
        return options

    async def client(self, engine: EngineRef) -> Any:
        client = self.clients.get(engine.location)
        if client is not None:
            return client
        async with self.lock(f"client:{engine.location}"):
            if engine.location not in self.clients:
                credentials = self._credentials
                token = self.environ.get(ACCESS_TOKEN_ENV)
                if credentials is None and token:
                    credentials = static_token_credentials(token)
                project = self.environ.get("GOOGLE_CLOUD_PROJECT") or engine.project
                # Importing the SDK and loading ADC block for seconds: keep them off the loop.
                self.clients[engine.location] = await asyncio.to_thread(
                    make_client,
                    project=project,
                    location=engine.location,
                    credentials=credentials,
                    base_url=self.environ.get(BASE_URL_ENV) or None,
                    http_options=self._http_options(),
                )
        return self.clients[engine.location]

    async def runtime(self, engine: EngineRef) -> Any:
        runtime = self.runtimes.get(engine.name)
        if runtime is not None:
            return runtime
        client = await self.client(engine)
        async with self.lock(f"engine:{engine.name}"):
            if engine.name not in self.runtimes:
                runtime = await provider_call(
                    asyncio.to_thread(client.runtimes.get, name=engine.name)
                )
                needed = ("async_create_session", "async_stream_query")
                missing = [m for m in needed if not hasattr(runtime, m)]
                if missing:
                    raise ProviderError(
                        f"engine {engine.name} does not publish {sorted(missing)}; deploy it "
                        "with copass_router_google.deploy_adk_agent",
                        provider=PROVIDER,
                        code="engine_not_adk",
                    )
                self.runtimes[engine.name] = runtime
        return self.runtimes[engine.name]

    async def aclose(self) -> None:
        """Close the clients' async connections (the sync ones close when collected)."""
        for client in self.clients.values():
            try:
                await client.aio.aclose()
            except Exception as exc:  # closing is best effort
                log.debug("closing google client failed", error=type(exc).__name__)
        self.clients.clear()
        self.runtimes.clear()
