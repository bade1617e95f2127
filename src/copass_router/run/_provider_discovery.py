"""The discovery part of the Router's API: its providers, their backends and the tools a run
may use (each backend built on first use, the tool dispatcher once)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from copass_router._types import ToolSpec
    from copass_router.coordination import Coordinator
    from copass_router.integrations.catalog import MCPCatalog
    from copass_router.plugin_host._plugins import (
        BackendRegistration,
        PluginHost,
        ProviderInfo,
    )
    from copass_router.provider_kit._backend import AgentBackend
    from copass_router.store import SessionStore
    from copass_router.tools._approvals import Approvals
    from copass_router.tools._tools import Tool, ToolDispatcher


class ProviderDiscovery:
    """Mixed into :class:`~copass_router.Router`: its providers, backends and tools."""

    environ: Mapping[str, str]
    plugins: PluginHost
    approvals: Approvals
    dispatch_url: str | None
    _provider_settings: dict[str, dict[str, Any]]
    _backends: dict[str, AgentBackend]
    _backend_lock: asyncio.Lock
    _dispatcher: ToolDispatcher | None
    _extra_tools: list[Tool]
    _tool_timeout: float
    _mcp: MCPCatalog | None

    if TYPE_CHECKING:  # the Router's (OpenedResources comes first)

        @property
        def store(self) -> SessionStore: ...

        @property
        def coordinator(self) -> Coordinator: ...

    def providers(self) -> list[ProviderInfo]:
        """Every installed provider with the plugin and version that gave it."""
        return self.plugins.provider_infos()

    async def backend(self, provider: str) -> AgentBackend:
        """The backend for ``provider``, built on first use."""
        backend = self._backends.get(provider)
        if backend is not None:
            return backend
        from copass_router._errors import UnknownProviderError
        from copass_router.provider_kit._backend import BackendContext, ResourceCache

        self.plugins.load()
        registration = self.plugins.backends.get(provider)
        if registration is None:
            raise UnknownProviderError(provider, self.plugins.backends)
        async with self._backend_lock:
            if provider not in self._backends:
                # Loading a factory imports its provider's SDK (seconds on a busy machine):
                # in a thread, so the event loop serves everyone else meanwhile.
                factory = await asyncio.to_thread(_load_factory, registration)
                context = BackendContext(
                    provider=provider,
                    resources=ResourceCache(self.store, provider),
                    environ=self.environ,
                    dispatch_url=self.dispatch_url,
                    settings=self._provider_settings.get(provider, {}),
                    coordinator=self.coordinator,
                )
                self._backends[provider] = factory(context)
        return self._backends[provider]

    def _base_dispatcher(self) -> ToolDispatcher:
        if self._dispatcher is None:
            from copass_router.tools._tools import ToolDispatcher

            self.plugins.load()
            tools = dict(self.plugins.tools)
            tools.update({t.name: t for t in self._extra_tools})
            self._dispatcher = ToolDispatcher(
                tools, self.plugins.dispatch_hook(), self._tool_timeout, self.approvals
            )
        return self._dispatcher

    async def list_tools(self) -> list[ToolSpec]:
        """Every tool a run may use (registered, and the MCP servers' reachable now), as the
        model is told about them."""
        from copass_router._types import RunRequest
        from copass_router.integrations.selection import run_dispatcher

        request = RunRequest(provider="-", message="-")
        return list((await run_dispatcher(self._base_dispatcher(), self._mcp, request)).specs)


def _load_factory(registration: BackendRegistration) -> Any:
    """The provider's factory, loaded off the event loop, and with it the TLS settings when its
    backend's module uses the shared ones: its first client would otherwise read the CA bundle
    on the loop (tens of milliseconds holding the interpreter lock). A provider that makes no
    TLS client (``echo``) loads nothing more."""
    import sys

    factory = registration.load_factory()
    module = sys.modules.get(getattr(factory, "__module__", None) or "")
    uses = getattr(module, "shared_tls_context", None)
    if uses is not None:  # only then import ssl with the TLS settings
        from copass_router.provider_kit._preparing import shared_tls_context

        if uses is shared_tls_context:
            shared_tls_context()
    return factory
