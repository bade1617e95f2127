"""What a hosted worker does before it listens, so that no first request does it on the event loop.

A worker serves every client from one event loop: whatever a request does there without
awaiting (importing a provider's SDK, building its client, loading TLS certificates, importing a
module an SDK imports lazily) stalls every other client meanwhile, ``/healthz`` included, and a
load balancer may take the worker for dead. So before listening the worker, in a thread:

- loads its plugins (the entry points, each plugin's module);
- builds the converters of every event and transcript type (cattrs generates and compiles one
  function per class on first use; a thread doing it for the store would hold the import lock
  the loop then waits on);
- calls every plugin's ``copass_router_prepare`` hook (the provider plugins import their SDKs
  and what those import lazily on first use, when the provider has credentials);

then, still before listening, opens the coordinator and the session store (importing their client
libraries) on the loop, where objects bound to it belong, and moves everything made so far out of
the garbage collector's sight (``gc.freeze``): the SDKs' modules are some 600,000 objects that
live as long as the worker, and a full collection walking them all held the loop 0.3-0.9 s in
the middle of a run.
"""

from __future__ import annotations

import asyncio
import gc

from copass_router._logs import get_logger, scrub
from copass_router.plugin_host._hook_calls import implementations
from copass_router.run._router import Router

log = get_logger("copass_router.server")


async def prepare(router: Router) -> None:
    """Do, off the event loop and before serving, what a first run of ``router`` would do on it."""
    await asyncio.to_thread(_prepare, router)
    for what in ("coordinator", "store"):
        try:
            getattr(router, what)
        except Exception as exc:  # the first request reports it, as it would have
            log.warning("startup_open_failed", what=what, error=scrub(repr(exc)))
    gc.collect()
    gc.freeze()


def _prepare(router: Router) -> None:
    router.plugins.load()
    _converters()
    for impl, call in implementations(router.plugins.pm, "copass_router_prepare"):
        try:
            call(router.environ)
        except Exception as exc:  # the first run does the work instead
            log.warning("plugin_prepare_failed", plugin=impl.plugin_name, error=scrub(repr(exc)))


def _converters() -> None:
    from copass_router import _types
    from copass_router._events import EVENT_TYPES
    from copass_router._wire import get_converter

    converter = get_converter()
    kinds: list[type] = [*EVENT_TYPES.values()]
    kinds += [_types.TranscriptTurn, _types.UserItem, _types.AssistantItem]
    kinds += [_types.ToolCallItem, _types.ToolResultItem]
    for kind in kinds:
        converter.get_unstructure_hook(kind)
        converter.get_structure_hook(kind)
