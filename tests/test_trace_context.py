"""W3C trace headers read off a request: well-formed ones pass, anything else is dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from copass_router import (
    Event,
    ProviderError,
    RetryPolicy,
    Router,
    RunStarted,
    ToolContext,
    Turn,
    hookimpl,
)
from copass_router._trace_context import trace_headers
from copass_router.testing import ScriptedBackend, ScriptedPlugin

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": TP}, {"traceparent": TP}),
        (
            {"traceparent": f" {TP} ", "tracestate": "a=1,b=2"},
            {"traceparent": TP, "tracestate": "a=1,b=2"},
        ),
        ({"traceparent": "01" + TP[2:] + "-future"}, {"traceparent": "01" + TP[2:] + "-future"}),
        ({"traceparent": TP + "-more"}, {}),  # version 00 has exactly four fields
        ({"traceparent": "ff" + TP[2:]}, {}),
        ({"traceparent": TP.upper()}, {}),
        ({"traceparent": "00-" + "0" * 32 + TP[35:]}, {}),
        ({"traceparent": TP[:36] + "0" * 16 + "-01"}, {}),
        ({"traceparent": "garbage"}, {}),
        ({"tracestate": "a=1"}, {}),
        ({"traceparent": TP, "tracestate": "a=1\r\nX: y"}, {"traceparent": TP}),
        ({"traceparent": TP, "tracestate": "a=" + "x" * 600}, {"traceparent": TP}),
        ({"traceparent": TP, "tracestate": ""}, {"traceparent": TP}),
        ({}, {}),
    ],
)
def test_only_well_formed_trace_context_passes(
    headers: dict[str, str], expected: dict[str, str]
) -> None:
    assert trace_headers(headers) == expected


class Tracer:
    """Sets the run's trace context at RunStarted, as a tracer plugin does."""

    @hookimpl
    def copass_router_process_event(self, event: Event, context: ToolContext) -> Event:
        if isinstance(event, RunStarted):
            context.trace_context["traceparent"] = TP
        return event


class Snapshots(ScriptedBackend):
    """Notes the turn's trace context when the turn starts (what a backend would send)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, str]] = []

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        self.seen.append(dict(turn.trace_context))
        async for event in super().run_turn(turn):
            yield event


async def test_middleware_sets_it_before_the_backend_starts_and_every_attempt_sees_it(
    make_router: Callable[..., Router],
) -> None:
    primary, second = Snapshots(), Snapshots()
    primary.enqueue(raises=ProviderError("down", provider="primary", status=503))
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary, second=second), Tracer()],
        retry_policy=RetryPolicy(max_retries=0),
    )
    fields: dict[str, Any] = {"fallbacks": [{"provider": "second"}]}
    await router.complete(provider="primary", message="hi", **fields)
    assert primary.seen == second.seen == [{"traceparent": TP}]
    await router.complete(provider="second", message="again")
    assert second.seen[-1] == {"traceparent": TP}  # each run its own, filled again


async def test_without_a_tracer_it_is_empty(make_router: Callable[..., Router]) -> None:
    backend = Snapshots()
    router = make_router(plugins=[ScriptedPlugin(only=backend)])
    await router.complete(provider="only", message="hi")
    assert backend.seen == [{}]
