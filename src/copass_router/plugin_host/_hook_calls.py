"""How the router calls hook implementations: one table, one order, one way.

Every hook's implementations are called in plugin registration order (``tryfirst`` ones first,
``trylast`` ones last), each by the router itself, one at a time, awaiting the async ones.
pluggy supplies only the implementations: an async implementation of a first-result hook hands
pluggy a coroutine, which is not None, so pluggy would stop there and the implementations after
it (a synchronous policy gate) would never run.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy
    from pluggy import HookImpl

    from copass_router._types import ToolCallRequest
    from copass_router.tools._tools import ToolContext


@dataclasses.dataclass(frozen=True, slots=True)
class HookCall:
    """How the router calls one hook: the arguments it passes and what it does with results."""

    #: The spec's arguments, in the order the router passes them.
    arguments: tuple[str, ...]
    #: ``register``: each implementation once, at load, with a ``register`` callable;
    #: ``first result``: each in turn until one returns non-None, per call;
    #: ``chain``: each in turn, each receiving what the previous one returned, per event;
    #: ``every``: each once, results ignored.
    mode: str
    #: When the router calls it.
    when: str


_AT_LOAD = "once per router, when its plugins load"

#: Every hook, in the order docs/plugin-hooks.md lists them. All are called in registration order.
HOOK_CALLS: dict[str, HookCall] = {
    "copass_router_register_backends": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_register_tools": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_register_stores": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_register_commands": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_register_emulators": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_register_prices": HookCall(("register",), "register", _AT_LOAD),
    "copass_router_dispatch_tool": HookCall(
        ("call", "context"), "first result", "for every tool call, before the tool runs"
    ),
    "copass_router_compact_history": HookCall(
        ("turns", "limit", "turn"),
        "first result",
        "when a turn's history does not fit its model, before the first call",
    ),
    "copass_router_process_event": HookCall(
        ("event", "context"), "chain", "for every event of every run"
    ),
    "copass_router_prepare": HookCall(
        ("environ",), "every", "once per hosted worker, in a thread, before it listens"
    ),
}


def registration_order(impls: Sequence[HookImpl]) -> list[HookImpl]:
    """Plugin registration order, with ``tryfirst`` ones first and ``trylast`` ones last.

    ``impls`` is pluggy's ``get_hookimpls()`` list: trylast ones (newest first), the rest in
    registration order, then tryfirst ones in registration order.
    """
    first = [i for i in impls if i.tryfirst]
    middle = [i for i in impls if not (i.tryfirst or i.trylast)]
    last = [i for i in impls if i.trylast][::-1]
    return first + middle + last


def implementations(
    pm: pluggy.PluginManager, hook: str
) -> list[tuple[HookImpl, Callable[..., Any]]]:
    """``hook``'s implementations in the order the router calls them, each with its function
    bound to take the arguments of :data:`HOOK_CALLS` positionally."""
    arguments = HOOK_CALLS[hook].arguments
    impls = getattr(pm.hook, hook).get_hookimpls()
    return [(impl, bind(impl, arguments)) for impl in registration_order(impls)]


def bind(impl: HookImpl, spec: tuple[str, ...]) -> Callable[..., Any]:
    """``impl``'s function taking the spec's arguments positionally, in the spec's order.

    An implementation may declare fewer arguments than its spec, in any order: it gets only
    those it names, as pluggy would pass them.
    """
    fn = impl.function
    wants = tuple(impl.argnames)
    if wants == spec and not impl.kwargnames:
        return fn
    picks = tuple(spec.index(name) for name in wants)
    keywords = tuple((name, spec.index(name)) for name in impl.kwargnames if name in spec)
    if not keywords and picks == tuple(range(len(picks))):  # the common case: a prefix
        count = len(picks)
        return lambda *values: fn(*values[:count])

    def call(*values: Any) -> Any:
        return fn(*[values[i] for i in picks], **{n: values[i] for n, i in keywords})

    return call


class DispatchChain:
    """Asks each ``copass_router_dispatch_tool`` implementation in turn for a call's result, in
    registration order (``calls``, from :func:`implementations`).

    Async implementations are awaited before the next is asked; the first non-None result
    wins, as with pluggy's ``firstresult`` for synchronous implementations.
    """

    def __init__(self, calls: Sequence[Callable[..., Any]]) -> None:
        self._calls = tuple(calls)

    async def __call__(self, call: ToolCallRequest, context: ToolContext) -> Any:
        """The first implementation's non-None result for ``call``, or None."""
        for implementation in self._calls:
            result = implementation(call, context)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None


class FirstResult:
    """A synchronous first-result hook's implementations as one callable: each in turn until
    one returns non-None (a coroutine is refused: the hook must be synchronous)."""

    def __init__(self, calls: Sequence[Callable[..., Any]]) -> None:
        self._calls = tuple(calls)

    def __call__(self, *arguments: Any) -> Any:
        for fn in self._calls:
            result = fn(*arguments)
            if inspect.iscoroutine(result):
                result.close()
                raise TypeError(f"{fn.__qualname__} must be synchronous (it returned a coroutine)")
            if result is not None:
                return result
        return None
