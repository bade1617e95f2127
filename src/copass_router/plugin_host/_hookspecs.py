"""Every hook a copass-router plugin can implement.

A plugin is a module (or object) with functions marked ``@hookimpl`` and is found through the
``copass_router`` entry-point group. An implementation may accept fewer arguments than its spec,
so arguments can be added later without breaking plugins. A function marked ``@hookimpl`` whose
name is not one of these hooks fails its plugin at load (with the nearest valid name).

The router calls every hook itself, one implementation at a time, so none may be a hook
wrapper. docs/plugin-hooks.md documents each hook with its full signature; a test compares the
two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    from copass_router._events import Event
    from copass_router._types import ToolCallRequest
    from copass_router.plugin_host._registrars import (
        BackendRegistrar,
        CommandRegistrar,
        EmulatorRegistrar,
        PriceRegistrar,
        StoreRegistrar,
        ToolRegistrar,
    )
    from copass_router.tools._tools import RunContext, ToolContext, ToolOutput

hookspec = pluggy.HookspecMarker("copass_router")
hookimpl = pluggy.HookimplMarker("copass_router")

#: The attribute :func:`event_types` sets on an implementation.
EVENT_TYPES_ATTR = "copass_router_event_types"

F = TypeVar("F", bound=Callable[..., Any])


def event_types(*types: type[Event] | str) -> Callable[[F], F]:
    """Declare the events a ``copass_router_process_event`` implementation is called for.

    The run loop then never calls it for other events (a text delta costs such a middleware
    nothing). ``RunStarted`` and ``RunFinished`` always reach it, and so does a run's first
    event after ``RunStarted`` whatever its type (so a tracer can time it); like any middleware
    it returns an event it does not handle unchanged. A class matches its subclasses too.

        @hookimpl
        @event_types(Usage, ToolCall, ToolResult)
        def copass_router_process_event(event, context): ...

    :param types: event classes (``copass_router.Usage``...) or their names (``"Usage"``: a
        plugin that names them does not load the event classes until a run starts); at least
        one.
    """
    from copass_router import _WHERE  # the public names, and the module each lives in

    def is_event(t: object) -> bool:
        if isinstance(t, str):
            return _WHERE.get(t) == "_events"
        from copass_router._events import Event

        return isinstance(t, type) and issubclass(t, Event)

    if not types or not all(is_event(t) for t in types):
        raise TypeError(
            "event_types() takes event classes or their names, e.g. event_types(Usage, ToolCall)"
            " or event_types('Usage', 'ToolCall')"
        )

    def mark(function: F) -> F:
        setattr(function, EVENT_TYPES_ATTR, tuple(types))
        return function

    return mark


def wanted_event_types(function: Callable[..., Any]) -> tuple[type[Event], ...] | None:
    """The event classes :func:`event_types` declared for ``function`` (None: every event)."""
    declared = getattr(function, EVENT_TYPES_ATTR, None)
    if declared is None:
        return None
    from copass_router import _events as events

    return tuple(getattr(events, t) if isinstance(t, str) else t for t in declared)


# -------------------------------------------------------------------------------------------
# Registration: called once per router, when it first loads its plugins. Every implementation
# is called, in plugin registration order (``tryfirst``/``trylast`` move one to either end).
# -------------------------------------------------------------------------------------------


@hookspec
def copass_router_register_backends(register: BackendRegistrar) -> None:
    """Register provider backends.

    Call ``register(name, factory, *, description="")`` once per provider. ``factory`` is a
    callable taking a :class:`~copass_router.BackendContext` and returning an
    :class:`~copass_router.AgentBackend`, or a ``"module:attribute"`` string naming one, which is
    imported only when a run first uses the provider (keep provider SDK imports out of the
    plugin's top-level module). If two plugins register one name, the first keeps it.

    :param register: a :class:`~copass_router.BackendRegistrar`.
    """


@hookspec
def copass_router_register_tools(register: ToolRegistrar) -> None:
    """Register tools that every run of the router may use.

    Call ``register(tool)`` with a :class:`~copass_router.Tool` (e.g. made by
    ``@copass_router.tool``) or a plain function, whose signature becomes the JSON schema.

    :param register: a :class:`~copass_router.ToolRegistrar`.
    """


@hookspec
def copass_router_register_stores(register: StoreRegistrar) -> None:
    """Register session store implementations by URL scheme.

    Call ``register(scheme, factory)``; ``factory(url)`` returns a
    :class:`~copass_router.SessionStore`. The router picks the one whose scheme matches
    ``COPASS_ROUTER_STORE`` (``sqlite`` is built in).

    :param register: a :class:`~copass_router.StoreRegistrar`.
    """


@hookspec
def copass_router_register_commands(register: CommandRegistrar) -> None:
    """Add sub-commands to the ``copass-router`` CLI.

    Call ``register(name, handler, help="")``; ``handler(argv: list[str]) -> int`` parses its
    own arguments. ``copass-router google deploy ...`` is registered this way.

    :param register: a :class:`~copass_router.CommandRegistrar`.
    """


@hookspec
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    """Offer an emulator of a provider's HTTP API for ``copass-router emulate NAME``.

    Call ``register(name, serve)`` where ``serve(host: str, port: int) -> None`` runs the
    emulator until interrupted, or a ``"module:attribute"`` string naming it.

    :param register: an :class:`~copass_router.EmulatorRegistrar`.
    """


@hookspec
def copass_router_register_prices(register: PriceRegistrar) -> None:
    """Register model prices, so the router can say what each model call costs.

    Call ``register(provider, model, *, input, output, cache_read, cache_write, effective,
    source="")`` once per model and price change: USD per million tokens of each kind, valid
    from the date ``effective`` until the model's next price. A model call is priced with the
    price in effect on its day (UTC); a model without a price has no cost (``cost_usd`` None).
    A later registration of the same model and date replaces an earlier one, so a host can
    override a plugin's prices with its own plugin registered after it.

    :param register: a :class:`~copass_router.PriceRegistrar`.
    """


# -------------------------------------------------------------------------------------------
# Tool dispatch: called for each tool call of a run.
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def copass_router_dispatch_tool(
    call: ToolCallRequest, context: ToolContext
) -> ToolOutput | Awaitable[ToolOutput | None] | None:
    """Route a tool call somewhere other than the registered tool (a remote server, a gate).

    Stops at the first non-None result: return a :class:`~copass_router.ToolOutput` (a plain
    JSON value counts as a successful output) to answer the call, or None to let the next
    implementation, and finally the registered tool, handle it. Implementations are asked in
    plugin registration order, like every hook's (``tryfirst``/``trylast`` move one to either
    end). An implementation may be async: the router awaits it before asking the next, so an async
    pass-through never hides a policy gate registered before it.
    Raising turns into an error result the model sees.

    :param call: the call: ``call_id``, ``name`` and decoded ``arguments``.
    :param context: the run the call belongs to (run, session, end user, provider, model).
    """


# -------------------------------------------------------------------------------------------
# Event middleware: called for every event of every run, in plugin registration order.
# -------------------------------------------------------------------------------------------


@hookspec
def copass_router_process_event(
    event: Event, context: RunContext
) -> Event | Awaitable[Event | None] | None:
    """Look at, change or drop an event before the consumer sees it.

    Every implementation is called, in plugin registration order (``tryfirst``/``trylast``
    move one to either end); each receives what the previous one returned. Return the event
    (or a replacement, e.g. made with ``attrs.evolve``) to pass it on, or None to drop it. May
    be async: the router awaits it before calling the next. ``RunStarted`` and ``RunFinished``
    pass through middleware too but cannot be dropped. An implementation marked with
    :func:`event_types` is called only for the events it names (and the run's bookends).

    :param event: the event, already stamped with ``run_id`` and ``seq``.
    :param context: the run's :class:`~copass_router.RunContext` (run, session, end user).
    """


# -------------------------------------------------------------------------------------------
# Start-up: called once by a hosted server before it listens.
# -------------------------------------------------------------------------------------------


@hookspec
def copass_router_prepare(environ: Mapping[str, str]) -> None:
    """Import and build now what a first run would otherwise do on the event loop.

    A hosted server (``copass-router serve``, each worker) calls every implementation once, in
    a worker thread, before it listens, so a provider's first run does not stall everyone else
    the worker serves: import the provider's SDK and the parts it imports lazily on first use,
    the modules an event middleware imports on its first run. Decide from ``environ`` what is
    worth it (a provider without credentials need not be prepared). Raising is logged and
    ignored: the first run does the work instead. Embedded routers never call it.

    :param environ: the server's environment (the router's ``environ``).
    """
