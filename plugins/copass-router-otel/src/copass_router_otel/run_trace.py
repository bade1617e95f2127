"""One run's spans, built from its neutral events as they pass through the middleware.

The neutral stream marks a model request's end with its ``Usage`` event; a request begins when
the run starts or when a tool result goes back to the model. A ``chat`` span is therefore made
when its request has ended, with the start time it had: its finish reason is known only from
what follows (a tool call: ``tool_call``; the run's end: the run's stop reason).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanKind, Status, StatusCode

from copass_router import (
    Error,
    Event,
    Message,
    RunFinished,
    RunStarted,
    StopReason,
    ToolCall,
    ToolResult,
    Usage,
)

from .telemetry import Telemetry

#: provider_data key under which the router marks tool events that came through the dispatch
#: callback: ``{"copass_router": {"dispatch": "callback"}}``.
ROUTER_KEY = "copass_router"


class ModelCall:
    """A model request that has ended, waiting for its finish reason."""

    __slots__ = ("end_ns", "error", "response", "start_ns", "texts", "usage")

    def __init__(self, start_ns: int, end_ns: int, usage: Usage | None, error: str | None) -> None:
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.usage = usage
        self.error = error
        self.response: Mapping[str, Any] = {}
        self.texts: list[str] = []


class RunTrace:
    """The spans of one run: the run's, the model request in progress, the tools running."""

    __slots__ = (
        "awaiting_first",
        "call_error",
        "call_seq",
        "call_start_ns",
        "call_texts",
        "call_tools",
        "ended",
        "error",
        "metric_attrs",
        "model",
        "next_call",
        "parent",
        "provider",
        "provider_key",
        "span",
        "start_ns",
        "t",
        "tools",
    )

    def __init__(self, telemetry: Telemetry, started: RunStarted, context: Any) -> None:
        self.t = telemetry
        self.provider = telemetry.provider_name(started.provider)
        self.provider_key = started.provider
        self.model = started.model
        self.start_ns = time.time_ns()
        self.metric_attrs = {
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
        }
        self.span = telemetry.tracer.start_span(
            "invoke_agent",
            context=telemetry.parent(context),
            kind=SpanKind.INTERNAL,
            start_time=self.start_ns,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": self.provider,
                "gen_ai.request.model": self.model,
                "gen_ai.conversation.id": started.session_id,
                "copass_router.provider": started.provider,
                "copass_router.run_id": started.run_id,
            },
        )
        self.parent = trace.set_span_in_context(self.span)
        telemetry.propagate_to(context, self.parent)
        self.awaiting_first = True
        self.error: Error | None = None
        self.tools: dict[str, Span] = {}
        self.ended: ModelCall | None = None  # a request that ended, its finish reason unknown
        # (start, seq) of the request a tool result began while the request that asked for the
        # tool had not reported its usage yet: a callback may overtake the provider's stream.
        self.next_call: tuple[int, int] | None = None
        self._open_call(started.seq)
        telemetry.runs_active.add(1, {"gen_ai.provider.name": self.provider})

    def _open_call(self, seq: int) -> None:
        self.call_start_ns: int | None = time.time_ns()
        self.call_seq = seq
        self.call_error: str | None = None
        self.call_texts: list[str] = []
        self.call_tools = False  # the request in progress asked for a tool already

    def first_event(self) -> None:
        """The first event after run_started: the time it took is a metric."""
        self.awaiting_first = False
        seconds = (time.time_ns() - self.start_ns) / 1e9
        self.t.time_to_first_event.record(seconds, self.metric_attrs)

    # -- model requests ----------------------------------------------------------------------

    def on_usage(self, event: Usage) -> None:
        now = time.time_ns()
        if self.call_start_ns is None:  # a second report with no request begun in between
            start = self.ended.end_ns if self.ended else now
        else:
            start = self.call_start_ns
        self._emit_ended(None)  # an earlier request nothing has told the finish reason of
        call = ModelCall(start, now, event, self.call_error)
        call.texts = self.call_texts
        if event.provider_data:
            own = event.provider_data.get(self.provider_key)
            if isinstance(own, Mapping):
                call.response = own
        tools_first = self.call_tools  # its tool calls came before its usage report
        self.call_start_ns = None
        self.call_error, self.call_texts, self.call_tools = None, [], False
        self._record_tokens(event, call)
        if tools_first:
            self._chat_span(call, "tool_call")
        else:
            self.ended = call
        if self.next_call is not None:  # the request the early tool result began
            start, seq = self.next_call
            self.next_call = None
            self._open_call(seq)
            self.call_start_ns = start

    def _record_tokens(self, usage: Usage, call: ModelCall) -> None:
        attrs = {
            **self.metric_attrs,
            "gen_ai.operation.name": "chat",
            "gen_ai.response.model": self._response_model(call),
        }
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        self.t.token_usage.record(prompt, {**attrs, "gen_ai.token.type": "input"})
        self.t.token_usage.record(usage.output_tokens, {**attrs, "gen_ai.token.type": "output"})

    def _response_model(self, call: ModelCall) -> str:
        model = call.response.get("model")
        return model if isinstance(model, str) and model else self.model

    def _emit_ended(self, finish: str | None) -> None:
        call, self.ended = self.ended, None
        if call is not None:
            self._chat_span(call, finish)

    def _chat_span(self, call: ModelCall, finish: str | None) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
            "gen_ai.response.model": self._response_model(call),
        }
        response_id = call.response.get("completion_id") or call.response.get("id")
        if isinstance(response_id, str):
            attributes["gen_ai.response.id"] = response_id
        if finish:
            attributes["gen_ai.response.finish_reasons"] = (finish,)
        usage = call.usage
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = (
                usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
            )
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
            if usage.cache_read_tokens:
                attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            if usage.cache_write_tokens:
                attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
        if call.error:
            attributes["error.type"] = call.error
        if self.t.capture_content and call.texts:
            attributes["gen_ai.output.messages"] = _output_messages(call.texts, finish)
        span = self.t.tracer.start_span(
            f"chat {self.model}",
            context=self.parent,
            kind=SpanKind.CLIENT,
            start_time=call.start_ns,
            attributes=attributes,
        )
        if call.error:
            span.set_status(Status(StatusCode.ERROR, call.error))
        span.end(end_time=call.end_ns)
        duration_attrs = {
            **self.metric_attrs,
            "gen_ai.operation.name": "chat",
            "gen_ai.response.model": attributes["gen_ai.response.model"],
        }
        if call.error:
            duration_attrs["error.type"] = call.error
        self.t.operation_duration.record((call.end_ns - call.start_ns) / 1e9, duration_attrs)

    def on_message(self, event: Message) -> None:
        if self.t.capture_content and self.call_start_ns is not None:
            self.call_texts.append(event.text)

    # -- tools -------------------------------------------------------------------------------

    def on_tool_call(self, event: ToolCall) -> None:
        if self.call_start_ns is None:
            self._emit_ended("tool_call")
        else:
            self.call_tools = True
        own = event.provider_data.get(ROUTER_KEY) if event.provider_data else None
        if not isinstance(own, Mapping):
            own = {}
        via_callback = own.get("dispatch") == "callback"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.call.id": event.call_id,
            "gen_ai.tool.type": "function",
        }
        if via_callback:
            attributes["copass_router.dispatch"] = "callback"
            self.t.dispatch_callbacks.add(1, {"gen_ai.tool.name": event.name})
        if self.t.capture_content:
            attributes["gen_ai.tool.call.arguments"] = json.dumps(
                dict(event.arguments), default=str
            )
        previous = self.tools.pop(event.call_id, None)
        if previous is not None:  # the same id again: close the first, keep the newest
            previous.end()
        parent, links = self.parent, None
        if via_callback:
            parent, links = self._callback_parent(own)
        self.tools[event.call_id] = self.t.tracer.start_span(
            f"execute_tool {event.name}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
        )

    def _callback_parent(self, own: Mapping[str, Any]) -> tuple[Context, list[Link] | None]:
        """A callback's tool span: under the span the agent's ``traceparent`` names when it is
        of this run's trace (the context the run handed the agent, or a span of the agent's
        own within it), else under the run with a link to what the agent sent (a malformed
        header counts as none)."""
        carrier = own.get("trace_context")
        remote = self.t.remote_span(carrier) if isinstance(carrier, Mapping) else None
        if remote is None:
            return self.parent, None
        if remote.trace_id == self.span.get_span_context().trace_id:
            return trace.set_span_in_context(NonRecordingSpan(remote)), None
        return self.parent, [Link(remote)]

    def on_tool_result(self, event: ToolResult) -> None:
        span = self.tools.pop(event.call_id, None)
        if span is None:  # a result whose call was not seen (a provider-side tool, say)
            self.on_tool_call(
                ToolCall(call_id=event.call_id, name=event.name, provider_data=event.provider_data)
            )
            span = self.tools.pop(event.call_id)
        attributes = {"gen_ai.tool.name": event.name}
        if event.is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, "the tool returned an error"))
            attributes["error.type"] = "tool_error"
        if self.t.capture_content:
            span.set_attribute("gen_ai.tool.call.result", event.output)
        span.end()
        self.t.tool_calls.add(1, attributes)
        if self.call_start_ns is not None and self.call_tools:
            # The request that asked for the tool has not reported its usage yet (the callback
            # overtook the stream): the next request begins once it has.
            self.next_call = (time.time_ns(), event.seq)
        else:
            self._open_call(event.seq)  # the result goes back to the model: a new request

    # -- errors and the end ------------------------------------------------------------------

    def on_error(self, event: Error) -> None:
        if self.call_start_ns is not None:
            self.call_error = self.call_error or event.code
        if self.error is None:
            self.error = event
        self.span.add_event(
            "copass_router.error",
            {
                "error.type": event.code,
                "error.message": event.message,
                "copass_router.error.retryable": event.retryable,
            },
        )
        self.t.errors.add(1, {"error.type": event.code, "gen_ai.provider.name": self.provider})

    def on_finished(self, event: RunFinished) -> None:
        reason = str(event.stop_reason)
        self._emit_ended(reason)
        if self.call_start_ns is not None and self._call_in_flight(event):
            call = ModelCall(self.call_start_ns, time.time_ns(), None, self.call_error)
            call.texts = self.call_texts
            self._chat_span(call, reason)
        for span in self.tools.values():
            span.set_status(Status(StatusCode.ERROR, f"the run ended ({reason}) first"))
            span.set_attribute("error.type", reason)
            span.end()
        self.tools.clear()
        self._end_run(event, reason)

    def _call_in_flight(self, event: RunFinished) -> bool:
        """Whether a model request had begun: events since it began, an error or a cut."""
        return (
            event.seq - self.call_seq > 1
            or self.call_error is not None
            or event.stop_reason in (StopReason.CANCELLED, StopReason.ERROR)
        )

    def _end_run(self, event: RunFinished, reason: str) -> None:
        usage = event.usage
        span = self.span
        span.set_attribute("gen_ai.response.finish_reasons", (reason,))
        span.set_attribute(
            "gen_ai.usage.input_tokens",
            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        )
        span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        duration_attrs = {**self.metric_attrs, "gen_ai.operation.name": "invoke_agent"}
        if event.stop_reason is StopReason.ERROR:
            code = self.error.code if self.error else "error"
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR, self.error.message if self.error else None))
            duration_attrs["error.type"] = code
        end = time.time_ns()
        span.end(end_time=end)
        self.t.operation_duration.record((end - self.start_ns) / 1e9, duration_attrs)
        self.t.runs_active.add(-1, {"gen_ai.provider.name": self.provider})


def _output_messages(texts: list[str], finish: str | None) -> str:
    parts = [{"type": "text", "content": text} for text in texts]
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish:
        message["finish_reason"] = finish
    return json.dumps([message], ensure_ascii=False)


#: What the plugin calls for each event type (others only count toward time to first event).
HANDLERS: dict[type[Event], Callable[[RunTrace, Any], None]] = {
    Usage: RunTrace.on_usage,
    Message: RunTrace.on_message,
    ToolCall: RunTrace.on_tool_call,
    ToolResult: RunTrace.on_tool_result,
    Error: RunTrace.on_error,
    RunFinished: RunTrace.on_finished,
}
