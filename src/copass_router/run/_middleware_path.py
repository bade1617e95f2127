"""Passing a run's events through middleware: the chain each event type goes through (all of
it for the run's bookends and first event, else the middleware that wants the type), and
synchronous middleware called without an await."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from copass_router._events import Event, RunFinished, RunStarted
from copass_router.plugin_host._hookspecs import wanted_event_types
from copass_router.tools._tools import ToolContext


class MiddlewarePath:
    """The middleware a turn's events pass through (the base of :class:`.TurnRunner`)."""

    def __init__(self, middleware: Sequence[Callable[..., Any]], context: ToolContext) -> None:
        self._context = context
        self._middleware = tuple(middleware)
        # Middleware marked with @event_types is called only for the events it names: the
        # chain each event type goes through, made on the type's first event.
        self._wants = tuple(wanted_event_types(fn) for fn in self._middleware)
        self._filtered = any(w is not None for w in self._wants)
        self._chains: dict[type[Event], tuple[Callable[..., Any], ...]] = {}

    def _chain(self, event: Event) -> tuple[Callable[..., Any], ...]:
        """The middleware ``event`` goes through: all of it for the run's bookends and its first
        event (seq 1), else those that want its type."""
        if not self._filtered or event.seq <= 1 or isinstance(event, RunStarted | RunFinished):
            return self._middleware
        kind = type(event)
        chain = self._chains.get(kind)
        if chain is None:
            chain = self._chains[kind] = tuple(
                fn
                for fn, wanted in zip(self._middleware, self._wants, strict=True)
                if wanted is None or issubclass(kind, wanted)
            )
        return chain

    def _apply(self, event: Event, chain: tuple[Callable[..., Any], ...]) -> Any:
        """``event`` through ``chain``: an Event, None (dropped), or, once an async middleware
        is met, an awaitable of either. Synchronous middleware costs no await."""
        current: Any = event
        context, cls = self._context, event.__class__
        for i, fn in enumerate(chain):
            current = fn(current, context)
            # An Event passes straight on (the same class: no isinstance); None drops it;
            # anything else must be an async middleware's awaitable (cheaper than
            # inspect.isawaitable on every event).
            if current.__class__ is not cls and not isinstance(current, Event):
                return None if current is None else self._apply_rest(current, chain, i + 1)
        return current

    async def _apply_rest(
        self, pending: Awaitable[Any], chain: tuple[Callable[..., Any], ...], start: int
    ) -> Event | None:
        """The rest of :meth:`_apply`, from the first async middleware's awaitable on."""
        current = await pending
        for fn in chain[start:]:
            if current is None:
                return None
            current = fn(current, self._context)
            if current is not None and not isinstance(current, Event):
                current = await current
        result: Event | None = current
        return result

    async def _processed(self, event: Event) -> Event | None:
        processed = self._apply(event, self._chain(event))
        if processed is None or isinstance(processed, Event):
            return processed
        result: Event | None = await processed
        return result
