"""Spans and metrics of runs on echo, the offline provider (the scripted model)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from copass_router_otel import CAPTURE_CONTENT_ENV
from copass_router_otel.testing import InMemoryTelemetry as Otel
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    RunStarted,
    Tool,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    hookimpl,
)


async def test_a_run_with_a_tool_call_is_one_tree(
    make_router: Callable[..., Router], otel: Otel, lookup: Tool, tool_message: str
) -> None:
    router = make_router(plugins=[otel.plugin])
    events = [e async for e in router.run(provider="echo", message=tool_message, tools=[lookup])]
    started = events[0]
    assert isinstance(started, RunStarted)
    call = next(e for e in events if isinstance(e, ToolCall))

    assert otel.tree() == "\n".join(
        [
            "invoke_agent  finish_reasons=end_turn input_tokens=12 output_tokens=8",
            "  chat echo-1  finish_reasons=tool_call input_tokens=4 output_tokens=1",
            f"  execute_tool lookup  id={call.call_id}",
            "  chat echo-1  finish_reasons=end_turn input_tokens=8 output_tokens=7",
        ]
    )
    run = otel.named("invoke_agent")[0]
    assert run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.conversation.id"] == started.session_id
    assert run.attributes["gen_ai.provider.name"] == "echo"
    assert run.attributes["copass_router.run_id"] == started.run_id
    assert run.kind is trace.SpanKind.INTERNAL
    chat = otel.named("chat")[0]
    assert chat.attributes is not None
    assert chat.kind is trace.SpanKind.CLIENT
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "echo-1"
    assert chat.attributes["gen_ai.response.model"] == "echo-1"
    tool_span = otel.named("execute_tool")[0]
    assert tool_span.attributes is not None
    assert tool_span.attributes["gen_ai.tool.name"] == "lookup"
    assert "copass_router.dispatch" not in tool_span.attributes  # in process, not a callback
    # The model requests and the tool do not overlap, and all lie inside the run.
    first, second = otel.named("chat")
    assert run.start_time <= first.start_time <= first.end_time <= tool_span.start_time  # type: ignore[operator]
    assert tool_span.end_time <= second.start_time <= second.end_time <= run.end_time  # type: ignore[operator]


async def test_the_plugin_changes_no_event(
    make_router: Callable[..., Router], otel: Otel, lookup: Tool, tool_message: str
) -> None:
    def shape(events: list[object]) -> list[tuple[str, ...]]:
        return [(type(e).__name__, getattr(e, "text", ""), getattr(e, "seq", 0)) for e in events]  # type: ignore[misc]

    plain = make_router()
    traced = make_router(plugins=[otel.plugin])
    fields = {"provider": "echo", "message": tool_message, "tools": [lookup]}
    assert shape([e async for e in traced.run(**fields)]) == shape(
        [e async for e in plain.run(**fields)]
    )


async def test_no_content_by_default_and_content_when_enabled(
    make_router: Callable[..., Router],
    otel: Otel,
    lookup: Tool,
    tool_message: str,
    make_otel: Callable[..., Otel],
) -> None:
    router = make_router(plugins=[otel.plugin])
    await router.complete(provider="echo", message=tool_message, tools=[lookup])
    for span in otel.spans():
        text = repr(dict(span.attributes or {}))
        assert "Paris" not in text and "sunny" not in text

    captured = make_otel(capture_content=True)
    router = make_router(plugins=[captured.plugin])
    await router.complete(provider="echo", message=tool_message, tools=[lookup])
    tool_span = captured.named("execute_tool")[0].attributes or {}
    assert tool_span["gen_ai.tool.call.arguments"] == '{"city": "Paris"}'
    assert tool_span["gen_ai.tool.call.result"] == "sunny in Paris"
    answer = captured.named("chat")[1].attributes or {}
    assert "tool results: lookup -> sunny in Paris" in str(answer["gen_ai.output.messages"])


async def test_a_provider_error_is_recorded_on_the_model_call_and_the_run(
    make_router: Callable[..., Router], otel: Otel
) -> None:
    router = make_router(plugins=[otel.plugin])
    await router.complete(provider="echo", message="/error overloaded the model is busy")
    run = otel.named("invoke_agent")[0]
    chat = otel.named("chat")[0]
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["error.type"] == "overloaded"
    assert chat.status.status_code is StatusCode.ERROR
    assert (chat.attributes or {})["error.type"] == "overloaded"
    [event] = [e for e in run.events if e.name == "copass_router.error"]
    assert (event.attributes or {})["error.message"] == "the model is busy"


async def test_a_failing_tool_marks_its_span(
    make_router: Callable[..., Router], otel: Otel
) -> None:
    router = make_router(plugins=[otel.plugin])
    await router.complete(provider="echo", message="/tool nope {}")
    tool_span = otel.named("execute_tool")[0]
    assert tool_span.status.status_code is StatusCode.ERROR
    assert (tool_span.attributes or {})["error.type"] == "tool_error"
    assert otel.named("invoke_agent")[0].status.status_code is StatusCode.UNSET


async def test_a_consumer_that_stops_reading_still_ends_every_span(
    make_router: Callable[..., Router], otel: Otel
) -> None:
    router = make_router(plugins=[otel.plugin])
    run_events = router.run(provider="echo", message="/slow 0.05 one two three four")
    async with contextlib.aclosing(run_events) as events:
        async for event in events:
            if getattr(event, "text", "") == "one ":
                break
    run = otel.named("invoke_agent")[0]
    assert (run.attributes or {})["gen_ai.response.finish_reasons"] == ("cancelled",)
    assert [s.name for s in otel.named("chat")] == ["chat echo-1"]
    assert otel.plugin._runs == {}  # nothing kept for a run that is over
    [active] = otel.points("copass_router.runs.active")
    assert active.value == 0


async def test_the_run_is_a_child_of_the_callers_span(
    make_router: Callable[..., Router], otel: Otel
) -> None:
    router = make_router(plugins=[otel.plugin])
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as outer:
        await router.complete(provider="echo", message="hi")
    run = otel.named("invoke_agent")[0]
    assert run.parent is not None
    assert run.parent.span_id == outer.get_span_context().span_id
    assert otel.tree().splitlines()[0] == "handle request"


async def test_metrics_of_a_run(
    make_router: Callable[..., Router], otel: Otel, lookup: Tool, tool_message: str
) -> None:
    router = make_router(plugins=[otel.plugin])
    first = await router.complete(provider="echo", message=tool_message, tools=[lookup])
    second = await router.complete(provider="echo", message="/tool nope {}")

    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")
    }
    usage = first.usage + second.usage
    assert tokens == {"input": usage.input_tokens, "output": usage.output_tokens}
    assert usage.output_tokens > 8
    durations = {
        p.attributes["gen_ai.operation.name"]: p.count
        for p in otel.points("gen_ai.client.operation.duration")
    }
    assert durations == {"chat": 4, "invoke_agent": 2}
    calls = {
        (p.attributes["gen_ai.tool.name"], p.attributes.get("error.type")): p.value
        for p in otel.points("copass_router.tool.calls")
    }
    assert calls == {("lookup", None): 1, ("nope", "tool_error"): 1}
    [first_event] = otel.points("copass_router.run.time_to_first_event")
    assert first_event.count == 2
    [active] = otel.points("copass_router.runs.active")
    assert active.value == 0
    assert otel.points("copass_router.dispatch.callbacks") == []


async def test_the_content_switch_is_read_from_the_environment(
    make_router: Callable[..., Router],
    monkeypatch: pytest.MonkeyPatch,
    make_otel: Callable[..., Otel],
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    captured = make_otel()  # capture_content=None: the environment decides
    router = make_router(plugins=[captured.plugin])
    await router.complete(provider="echo", message="hello there")
    answer = captured.named("chat")[0].attributes or {}
    assert "echo: hello there" in str(answer["gen_ai.output.messages"])


class UsageLast(AgentBackend):
    """A provider that reports a request's usage after the tool calls it asked for."""

    default_model = "late-1"

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        yield ToolCall(call_id="c1", name="lookup", arguments={"city": "Oslo"})
        yield Usage(input_tokens=5, output_tokens=2)
        yield ToolResult(call_id="c1", name="lookup", output="rain")
        yield Message(text="rain in Oslo")
        yield Usage(input_tokens=9, output_tokens=3)


class UsageLastPlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("late", lambda context: UsageLast())


async def test_usage_reported_after_the_tool_calls(
    make_router: Callable[..., Router], otel: Otel
) -> None:
    router = make_router(plugins=[UsageLastPlugin(), otel.plugin])
    await router.complete(provider="late", message="hi")
    assert otel.tree().splitlines()[1:] == [
        "  chat late-1  finish_reasons=tool_call input_tokens=5 output_tokens=2",
        "  execute_tool lookup  id=c1",
        "  chat late-1  finish_reasons=end_turn input_tokens=9 output_tokens=3",
    ]
