"""What a router opens on first use and closes: its store, ledger, coordinator and backends.

Kept apart from the run path so the rule of who closes what is in one place: a router closes
what it opened itself (from a URL or the environment), never what the caller passed in, and
``Router.run_sync`` closes only what cannot outlive its event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from copass_router.accounting._usage import UsageLedger
    from copass_router.coordination import Coordinator
    from copass_router.integrations import MCPCatalog
    from copass_router.plugin_host._plugins import PluginHost
    from copass_router.provider_kit._backend import AgentBackend
    from copass_router.store import SessionStore


class OpenedResources:
    """The part of :class:`Router` that opens and closes its resources."""

    environ: Mapping[str, str]
    plugins: PluginHost
    _store_arg: SessionStore | str | None
    _store: SessionStore | None
    _ledger_arg: UsageLedger | str | None
    _ledger: UsageLedger | None
    _coordinator_arg: Coordinator | str | None
    _coordinator: Coordinator | None
    _backends: dict[str, AgentBackend]
    _mcp: MCPCatalog | None

    async def _close(self, *, loop_bound_only: bool) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        if self._mcp is not None:  # its connections' tasks live on this loop
            await self._mcp.aclose()
        store, ledger = self._store, self._ledger
        if ledger is not None and not _given(self._ledger_arg) and _closes(ledger, loop_bound_only):
            await ledger.close()
            self._ledger = None
        if store is not None and not _given(self._store_arg) and _closes(store, loop_bound_only):
            await store.close()
            self._store = None
            if self._ledger is not None and self._ledger_arg is None:
                self._ledger = None  # it lived on the store
        if self._coordinator is not None:
            from copass_router.coordination import Coordinator

            if not isinstance(self._coordinator_arg, Coordinator):
                await self._coordinator.aclose()
            self._coordinator = None

    @property
    def coordinator(self) -> Coordinator:
        """What this router shares with other workers (opened on first use)."""
        if self._coordinator is None:
            from copass_router.coordination import Coordinator, open_coordinator

            arg = self._coordinator_arg
            self._coordinator = (
                arg if isinstance(arg, Coordinator) else open_coordinator(arg, self.environ)
            )
        return self._coordinator

    @property
    def store(self) -> SessionStore:
        """The session store (opened on first use)."""
        if self._store is None:
            arg = self._store_arg
            if arg is None or isinstance(arg, str):
                from copass_router.store import default_store_url, open_store

                self.plugins.load()
                self._store = open_store(
                    arg or default_store_url(self.environ), self.plugins.stores
                )
            else:
                self._store = arg
        return self._store


def _given(arg: object) -> bool:
    """Whether a store or ledger argument is an object the caller opened (not a URL)."""
    return arg is not None and not isinstance(arg, str)


def _closes(resource: object, loop_bound_only: bool) -> bool:
    # A store says ``bound_to_loop = False`` when it works from any event loop (SQLite's
    # thread); one that does not say is taken to be bound to the loop that opened it.
    return not loop_bound_only or getattr(resource, "bound_to_loop", True)
