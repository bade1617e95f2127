"""``@event_types``: event middleware called only for the events it declares (plus the run's
bookends and its first event), so deltas cost it nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from copass_router import (
    Event,
    Router,
    RunFinished,
    RunStarted,
    Tool,
    ToolCall,
    Usage,
    event_types,
    hookimpl,
    tool,
)


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class Seen:
    """Records what each middleware was called with."""

    def __init__(self) -> None:
        self.tool_calls_only: list[str] = []
        self.everything: list[str] = []
        self.by_base_class: list[str] = []
        self.async_usage: list[str] = []

    @hookimpl
    @event_types(ToolCall)
    def copass_router_process_event(self, event: Event) -> Event:  # fewer args: bind() wraps
        self.tool_calls_only.append(event.type)
        return event


class Everything:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    @hookimpl
    def copass_router_process_event(self, event: Event, context: Any) -> Event:
        self.seen.everything.append(event.type)
        return event


class ByBaseClass:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    @hookimpl
    @event_types(Event)
    def copass_router_process_event(self, event: Event, context: Any) -> Event:
        self.seen.by_base_class.append(event.type)
        return event


class AsyncUsage:
    """An async middleware for usage only, that changes what it handles; it names the event
    class (a plugin that does so loads no event class until a run starts)."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    @hookimpl
    @event_types("Usage")
    async def copass_router_process_event(self, event: Event, context: Any) -> Event:
        self.seen.async_usage.append(event.type)
        if isinstance(event, Usage):
            return attrs.evolve(event, output_tokens=event.output_tokens + 1000)
        return event


async def test_a_middleware_is_called_for_the_events_it_declares(
    make_router: Callable[..., Router],
) -> None:
    seen = Seen()
    router = make_router(plugins=[seen, Everything(seen), ByBaseClass(seen), AsyncUsage(seen)])
    tools: list[Tool] = [lookup]
    events = [
        e
        async for e in router.run(
            provider="echo", message='/tool lookup {"city": "Paris"}', tools=tools
        )
    ]
    types = [e.type for e in events]
    assert seen.everything == types == seen.by_base_class
    assert types.count("text_delta") > 1  # deltas were there

    def expected(wanted: str) -> list[str]:
        # The bookends and the run's first event (whatever its type) reach every middleware.
        last = len(types) - 1
        return [t for i, t in enumerate(types) if i in (0, 1, last) or t == wanted]

    assert seen.tool_calls_only == expected("tool_call")
    assert "text_delta" not in seen.tool_calls_only
    assert seen.async_usage == expected("usage")
    usages = [e for e in events if isinstance(e, Usage)]
    assert usages and all(u.output_tokens >= 1000 for u in usages)  # it may change what it gets
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)


@pytest.mark.parametrize("bad", [(), (str,), (RunStarted, "usage"), ("Tool",), ("Usages",)])
def test_event_types_takes_event_classes(bad: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="event classes"):
        event_types(*bad)
