"""Trace context through the Google agent's ``copass_dispatch`` callback: the run hands the
deployed agent its span's W3C context (session state), the proxy tool sends it back as
``traceparent``, and the tool's span is parented on it. The emulator runs the real ADK agent, so
the proxy tool really makes the HTTP callback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from copass_router_otel.testing import InMemoryTelemetry as Otel
from opentelemetry.sdk.trace import TracerProvider

from copass_router import (
    AgentBackend,
    Event,
    Message,
    RemoteRouter,
    Router,
    RunStarted,
    Tool,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    hookimpl,
)
from copass_router.server import create_app, start_server

TRACE_KEY = "temp:copass_trace_context"
KEY = "otel-test-key-0123456789abcdef"


def sent_traceparent(emulator: Any) -> tuple[str, int, int]:
    """The traceparent the run handed the agent: (header, trace id, span id)."""
    state = emulator.requests_to("stream")[0].body["input"]["state_delta"]
    header = state[TRACE_KEY]["traceparent"]
    _, trace_id, span_id, _ = header.split("-")
    return header, int(trace_id, 16), int(span_id, 16)


def callback_traceparent(events: list[Event]) -> str:
    """The traceparent the agent's callback carried, as the dispatch route saw it."""
    call = next(e for e in events if isinstance(e, ToolCall))
    own = (call.provider_data or {})["copass_router"]
    assert own["dispatch"] == "callback"
    header: str = own["trace_context"]["traceparent"]
    return header


def assert_tool_span_under(otel: Otel, trace_id: int, span_id: int) -> None:
    """The callback's tool span is a child of the (remote) span ``span_id`` names."""
    (tool_span,) = otel.named("execute_tool")
    assert tool_span.parent is not None and tool_span.parent.is_remote  # parented on the header
    assert tool_span.parent.span_id == span_id
    assert tool_span.context is not None and tool_span.context.trace_id == trace_id


async def test_in_process_the_callback_carries_the_run_spans_context_back(
    google_router: Router,
    otel: Otel,
    google_emulator: Any,
    google_engine: str,
    lookup: Tool,
    tool_message: str,
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("checkout") as outer:
        events = [
            e
            async for e in google_router.run(
                provider="google",
                reasoning_engine_id=google_engine,
                message=tool_message,
                tools=[lookup],
            )
        ]
    header, trace_id, span_id = sent_traceparent(google_emulator)
    run = otel.named("invoke_agent")[0]
    assert run.context is not None
    assert (trace_id, span_id) == (run.context.trace_id, run.context.span_id)
    assert trace_id == outer.get_span_context().trace_id
    assert callback_traceparent(events) == header  # the proxy tool sent it back as a header
    assert_tool_span_under(otel, trace_id, span_id)
    assert "sunny in Paris" in [e.output for e in events if isinstance(e, ToolResult)]


@pytest.fixture
async def hosted_google(
    otel: Otel,
    google_env: dict[str, str],
    deploy_engine: Callable[[str | None], str],
    lookup: Tool,
) -> AsyncIterator[tuple[str, str]]:
    """A hosted router with the google provider and the plugin: (base URL, engine)."""
    import copass_router_google

    router = Router(
        store=":memory:",
        load_entry_points=False,
        environ=google_env,
        plugins=[copass_router_google, otel.plugin],
        tools=[lookup],
    )
    server = await start_server(create_app(router, api_keys=[f"alpha:{KEY}"]))
    router.dispatch_url = server.base_url + "/v1/dispatch"
    yield server.base_url, deploy_engine(router.dispatch_url)
    await server.aclose()
    await router.aclose()


async def test_hosted_under_a_propagated_parent_the_tool_span_joins_the_callers_trace(
    hosted_google: tuple[str, str], otel: Otel, google_emulator: Any, tool_message: str
) -> None:
    url, engine = hosted_google
    client_side = TracerProvider()  # the application's own, apart from the server's
    async with RemoteRouter(url, KEY) as remote:
        with client_side.get_tracer("app").start_as_current_span("checkout") as outer:
            result = await remote.complete(
                provider="google", reasoning_engine_id=engine, message=tool_message
            )
    assert [r.output for r in result.tool_results] == ["sunny in Paris"]
    caller = outer.get_span_context()
    run = otel.named("invoke_agent")[0]
    assert run.parent is not None and run.parent.span_id == caller.span_id
    header, trace_id, span_id = sent_traceparent(google_emulator)
    assert run.context is not None
    assert (trace_id, span_id) == (caller.trace_id, run.context.span_id)
    assert callback_traceparent(result.events) == header
    assert_tool_span_under(otel, trace_id, span_id)


# -- what the plugin does with the header a callback carries ------------------------------------

AGENT_SPAN = "00f067aa0ba902b7"


class CallingBack(AgentBackend):
    """A deployed agent stand-in: calls the router's tool back (``Router.handle_dispatch``, what
    the dispatch endpoint calls) with the trace context ``trace_for`` makes from the turn's."""

    default_model = "agent-1"

    def __init__(self, router: Callable[[], Router], trace_for: Callable[..., Any]) -> None:
        self.router = router
        self.trace_for = trace_for

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        assert turn.dispatch_token
        trace = self.trace_for(turn.trace_context)

        async def call_back() -> AsyncIterator[str]:
            result = await self.router().handle_dispatch(
                turn.dispatch_token, "lookup", {"city": "Paris"}, "agent-1", trace_context=trace
            )
            yield str(result.output)

        async for item in turn.merge(call_back()):
            yield item if isinstance(item, Event) else Message(text=str(item))


def _same_trace_agent_span(sent: Mapping[str, str]) -> dict[str, str]:
    version, trace_id, _, flags = sent["traceparent"].split("-")
    return {"traceparent": f"{version}-{trace_id}-{AGENT_SPAN}-{flags}"}


OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CASES: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "a span of the agent's in the run's trace": _same_trace_agent_span,
    "malformed": lambda sent: {"traceparent": "00-not-hex-at-all-01", "tracestate": "a\nb"},
    "another trace": lambda sent: {"traceparent": f"00-{OTHER_TRACE}-{AGENT_SPAN}-01"},
    "none": lambda sent: None,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_tool_span_follows_a_valid_header_of_the_runs_trace(
    make_router: Callable[..., Router], otel: Otel, lookup: Tool, case: str
) -> None:
    class Agent:
        @hookimpl
        def copass_router_register_backends(self, register: Callable[..., None]) -> None:
            register("agent", lambda context: CallingBack(lambda: router, CASES[case]))

    router = make_router(plugins=[Agent(), otel.plugin], tools=[lookup])
    events = [e async for e in router.run(provider="agent", message="go")]
    assert isinstance(events[0], RunStarted)
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["sunny in Paris"]
    run = otel.named("invoke_agent")[0]
    (tool_span,) = otel.named("execute_tool")
    assert run.context is not None and tool_span.context is not None and tool_span.parent
    assert tool_span.context.trace_id == run.context.trace_id  # never leaves the run's trace
    if case == "a span of the agent's in the run's trace":
        assert tool_span.parent.is_remote and format(tool_span.parent.span_id, "016x") == AGENT_SPAN
    else:
        assert tool_span.parent.span_id == run.context.span_id and not tool_span.parent.is_remote
    linked = [format(link.context.trace_id, "032x") for link in tool_span.links]
    assert linked == ([OTHER_TRACE] if case == "another trace" else [])


class CallbackFirst(AgentBackend):
    """A deployed agent whose tool callback overtakes its own stream: the tool's call and
    result reach the router before the usage of the model request that asked for it (what a
    Google run may do, the callback and the stream being two connections)."""

    default_model = "agent-1"

    def __init__(self, router: Callable[[], Router]) -> None:
        self.router = router

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        assert turn.dispatch_token
        await self.router().handle_dispatch(turn.dispatch_token, "lookup", {"city": "Paris"}, "a-1")
        yield Usage(input_tokens=4, output_tokens=1)  # the request that asked for the tool
        yield Message(text="sunny")
        yield Usage(input_tokens=8, output_tokens=2)  # the request that answered


async def test_a_callback_that_overtakes_the_stream_gives_the_same_tree(
    make_router: Callable[..., Router], otel: Otel, lookup: Tool
) -> None:
    class Agent:
        @hookimpl
        def copass_router_register_backends(self, register: Callable[..., None]) -> None:
            register("agent", lambda context: CallbackFirst(lambda: router))

    router = make_router(plugins=[Agent(), otel.plugin], tools=[lookup])
    events = [e async for e in router.run(provider="agent", message="go")]
    kinds = [e.type for e in events]
    assert kinds.index("tool_result") < kinds.index("usage")  # the race, made certain
    assert otel.tree() == "\n".join(
        [
            "invoke_agent  finish_reasons=end_turn input_tokens=12 output_tokens=3",
            "  chat agent-1  finish_reasons=tool_call input_tokens=4 output_tokens=1",
            "  execute_tool lookup  id=a-1 dispatch=callback",
            "  chat agent-1  finish_reasons=end_turn input_tokens=8 output_tokens=2",
        ]
    )
    first, second = otel.named("chat")
    (tool_span,) = otel.named("execute_tool")
    assert first.start_time and tool_span.start_time and second.start_time
    assert first.start_time <= tool_span.start_time <= second.start_time
