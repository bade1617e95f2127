"""Every hook a copass-router plugin can implement.

A plugin is a module (or object) with functions marked ``@hookimpl`` and is found through the
``copass_router`` entry-point group. An implementation may accept fewer arguments than its spec,
so arguments can be added later without breaking plugins. docs/plugin-hooks.md documents each
hook; a test fails when one is missing there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .events import Event
    from .tools import ToolContext, ToolOutput
    from .types import ToolCallRequest

hookspec = pluggy.HookspecMarker("copass_router")
hookimpl = pluggy.HookimplMarker("copass_router")

# -------------------------------------------------------------------------------------------
# Registration: called once, when a router first loads its plugins.
# -------------------------------------------------------------------------------------------


@hookspec
def copass_router_register_backends(register: Callable[..., None]) -> None:
    """Register provider backends.

    Call ``register(name, factory, *, description="")`` once per provider. ``factory`` is a
    callable taking a :class:`~copass_router.BackendContext` and returning an
    :class:`~copass_router.AgentBackend`, or a ``"module:attribute"`` string naming one, which is
    imported only when a run first uses the provider (keep provider SDK imports out of the
    plugin's top-level module).

    :param register: the registration callable.
    """


@hookspec
def copass_router_register_tools(register: Callable[..., None]) -> None:
    """Register tools that every run of the router may use.

    Call ``register(tool)`` with a :class:`~copass_router.Tool` (e.g. made by
    ``@copass_router.tool``) or a plain function, whose signature becomes the JSON schema.

    :param register: the registration callable.
    """


@hookspec
def copass_router_register_stores(register: Callable[..., None]) -> None:
    """Register session store implementations by URL scheme.

    Call ``register(scheme, factory)``; ``factory(url)`` returns a
    :class:`~copass_router.SessionStore`. The router picks the one whose scheme matches
    ``COPASS_ROUTER_STORE`` (``sqlite`` is built in).

    :param register: the registration callable.
    """


@hookspec
def copass_router_register_commands(register: Callable[..., None]) -> None:
    """Add sub-commands to the ``copass-router`` CLI.

    Call ``register(name, handler, help="")``; ``handler(argv: list[str]) -> int`` parses its
    own arguments. ``copass-router google deploy ...`` is registered this way.

    :param register: the registration callable.
    """


@hookspec
def copass_router_register_emulators(register: Callable[..., None]) -> None:
    """Offer an emulator of a provider's HTTP API for ``copass-router emulate NAME``.

    Call ``register(name, serve)`` where ``serve(host: str, port: int) -> None`` runs the
    emulator until interrupted, or a ``"module:attribute"`` string naming it.

    :param register: the registration callable.
    """


# -------------------------------------------------------------------------------------------
# Tool dispatch: called for each tool call of a run.
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def copass_router_dispatch_tool(
    call: ToolCallRequest, context: ToolContext
) -> ToolOutput | Awaitable[ToolOutput | None] | None:
    """Route a tool call somewhere other than the registered tool (a remote server, a gate).

    Stops at the first implementation that returns something other than None; returning None
    lets the next one (and finally the registered tool) handle the call. An implementation may
    be async. Raising turns into an error result the model sees.

    :param call: the call: ``call_id``, ``name`` and decoded ``arguments``.
    :param context: the run the call belongs to (run, session, end user, provider).
    """


# -------------------------------------------------------------------------------------------
# Event middleware: called for every event of every run, in plugin registration order.
# -------------------------------------------------------------------------------------------


@hookspec
def copass_router_process_event(
    event: Event, context: Any
) -> Event | Awaitable[Event | None] | None:
    """Look at, change or drop an event before the consumer sees it.

    Return the event (or a replacement, e.g. made with ``attrs.evolve``) to pass it on, or None
    to drop it. May be async. Each implementation receives what the previous one returned.
    ``RunStarted`` and ``RunFinished`` pass through middleware too but cannot be dropped.

    :param event: the event, already stamped with ``run_id`` and ``seq``.
    :param context: the run's :class:`~copass_router.ToolContext` (run, session, end user).
    """
