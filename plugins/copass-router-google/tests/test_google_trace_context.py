"""The run's trace context travels to the deployed agent and back on its tool callback.

A tracer plugin (here a plain middleware standing in for copass-router-otel) sets the run's
``trace_context`` at RunStarted; the backend hands it to the agent in the query's state; the
real ADK agent in the emulator runs the proxy tool, whose callback carries it back as W3C headers,
and the dispatch route puts it on the callback's events for middleware to read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import copass_router_google
import pytest
from copass_router_google.emulator import GoogleEmulator

from copass_router import Event, Router, RunStarted, ToolCall, ToolResult, hookimpl, tool

TRACE_KEY = "temp:copass_trace_context"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} shipped"


class Tracer:
    """Sets the run's trace context when the run starts, as a tracer plugin does."""

    def __init__(self, trace: Mapping[str, str]) -> None:
        self.trace = trace

    @hookimpl
    def copass_router_process_event(self, event: Event, context: Any) -> Event:
        if isinstance(event, RunStarted):
            context.trace_context.update(self.trace)
        return event


async def run_traced(
    make_router: Callable[..., Router],
    emulator: GoogleEmulator,
    trace: Mapping[str, str] | None,
) -> list[Event]:
    plugins: list[Any] = [copass_router_google]
    if trace is not None:
        plugins.append(Tracer(trace))
    environ = {
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulator.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "GOOGLE_CLOUD_PROJECT": "emulated-project",
    }
    router = make_router(plugins=plugins, environ=environ)
    server = await router.start_dispatch_server()
    try:
        engine = emulator.add_engine(
            display_name="support-agent",
            system_prompt="You are a support agent.",
            dispatch_url=router.dispatch_url,
            project="emulated-project",
        )
        return [
            e
            async for e in router.run(
                provider="google",
                reasoning_engine_id=engine,
                message='/tool lookup_order {"order_id": "A-17"}',
                tools=[lookup_order],
            )
        ]
    finally:
        await server.aclose()


def callback_data(events: list[Event]) -> list[Mapping[str, Any]]:
    """What the dispatch route put on the callback's ToolCall and ToolResult."""
    return [
        (e.provider_data or {})["copass_router"]
        for e in events
        if isinstance(e, ToolCall | ToolResult)
    ]


@pytest.mark.parametrize(
    "trace",
    [{"traceparent": TRACEPARENT}, {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"}],
)
async def test_the_callback_carries_the_runs_trace_context_back(
    make_router: Callable[..., Router],
    fresh_emulator: GoogleEmulator,
    trace: dict[str, str],
) -> None:
    events = await run_traced(make_router, fresh_emulator, trace)
    state = fresh_emulator.requests_to("stream")[0].body["input"]["state_delta"]
    assert state[TRACE_KEY] == trace  # handed to the agent for this invocation only
    data = callback_data(events)
    assert len(data) == 2 and all(d["dispatch"] == "callback" for d in data)
    assert all(d["trace_context"] == trace for d in data)  # back through the proxy tool's headers
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["order A-17 shipped"]


@pytest.mark.parametrize(
    "trace",
    [None, {"traceparent": "00-not-a-traceparent-01"}, {"tracestate": "vendor=opaque"}],
    ids=["no tracer", "malformed", "tracestate alone"],
)
async def test_without_a_valid_trace_context_nothing_is_sent_and_the_tool_runs(
    make_router: Callable[..., Router],
    fresh_emulator: GoogleEmulator,
    trace: dict[str, str] | None,
) -> None:
    events = await run_traced(make_router, fresh_emulator, trace)
    state = fresh_emulator.requests_to("stream")[0].body["input"]["state_delta"]
    assert TRACE_KEY not in state
    data = callback_data(events)
    assert len(data) == 2 and all("trace_context" not in d for d in data)
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["order A-17 shipped"]
