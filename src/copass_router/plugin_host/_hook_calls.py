"""How the router calls hook implementations: itself, one at a time, awaiting the async ones.

pluggy calls implementations synchronously. An async implementation of a first-result hook
hands pluggy a coroutine, which is not None, so pluggy stops there: when that coroutine later
resolves to None, the implementations after it never ran. An async pass-through registered
after a synchronous policy gate would make the gate never run. So the router asks pluggy only
for the implementations and their order, and calls them here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pluggy import HookImpl

    from copass_router._types import ToolCallRequest
    from copass_router.tools._tools import ToolContext


def registration_order(impls: Sequence[HookImpl]) -> list[HookImpl]:
    """Plugin registration order, with ``tryfirst`` ones first and ``trylast`` ones last.

    ``impls`` is pluggy's ``get_hookimpls()`` list: trylast ones (newest first), the rest in
    registration order, then tryfirst ones in registration order.
    """
    first = [i for i in impls if i.tryfirst]
    middle = [i for i in impls if not (i.tryfirst or i.trylast)]
    last = [i for i in impls if i.trylast][::-1]
    return first + middle + last


def pluggy_order(impls: Sequence[HookImpl]) -> list[HookImpl]:
    """The order pluggy itself would call ``impls`` in: the newest first, tryfirst/trylast kept."""
    return list(reversed(impls))


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
    """Asks each ``copass_router_dispatch_tool`` implementation in turn for a call's result.

    Async implementations are awaited before the next is asked; the first non-None result
    wins, as with pluggy's ``firstresult`` for synchronous implementations.
    """

    def __init__(self, impls: Sequence[HookImpl]) -> None:
        self._calls = tuple(bind(i, ("call", "context")) for i in pluggy_order(impls))

    async def __call__(self, call: ToolCallRequest, context: ToolContext) -> Any:
        """The first implementation's non-None result for ``call``, or None."""
        for implementation in self._calls:
            result = implementation(call, context)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None
