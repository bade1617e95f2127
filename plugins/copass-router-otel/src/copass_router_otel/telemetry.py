"""The tracer, the metric instruments and the settings one plugin instance reports with."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from importlib import metadata
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: W3C trace context only: what a run hands its provider never carries the application's
#: baggage (which the global propagator would add, and which may hold anything).
W3C = TraceContextTextMapPropagator()

SCOPE = "copass_router_otel"

#: The GenAI conventions' ``gen_ai.provider.name`` for providers they name; others keep ours.
PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "google": "gcp.vertex_ai",
    "openai": "openai",
}

# Bucket boundaries the GenAI semantic conventions advise for their two histograms.
TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1, 4, 16 ... 67108864
DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01, 0.02 ... 81.92 s


def _version() -> str:
    try:
        return metadata.version("copass-router-otel")
    except metadata.PackageNotFoundError:
        return "0"


class Telemetry:
    """Made on the first run: OpenTelemetry is imported only then."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, capture_content: bool) -> None:
        version = _version()
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, version, meter_provider=meter_provider)
        self.capture_content = capture_content
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model request, by token type (input, output).",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of model requests (chat) and whole runs (invoke_agent).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.runs_active = meter.create_up_down_counter(
            "copass_router.runs.active", unit="{run}", description="Runs in flight."
        )
        self.time_to_first_event = meter.create_histogram(
            "copass_router.run.time_to_first_event",
            unit="s",
            description="From a run's start to the first event after run_started.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tool_calls = meter.create_counter(
            "copass_router.tool.calls", unit="{call}", description="Tool calls that returned."
        )
        self.dispatch_callbacks = meter.create_counter(
            "copass_router.dispatch.callbacks",
            unit="{call}",
            description="Tool calls that reached the router through the copass_dispatch callback.",
        )
        self.errors = meter.create_counter(
            "copass_router.errors", unit="{error}", description="Error events, by error code."
        )

    @staticmethod
    def provider_name(provider: str) -> str:
        """``gen_ai.provider.name`` for one of our provider names."""
        return PROVIDER_NAMES.get(provider, provider)

    @staticmethod
    def parent(context: Any) -> Context | None:
        """The run span's parent: W3C trace headers the hosted API put on the run's metadata,
        else None (the caller's current context)."""
        carrier = getattr(context, "metadata", None)
        if isinstance(carrier, Mapping) and "traceparent" in carrier:
            return propagate.extract(carrier)
        return None

    @staticmethod
    def propagate_to(context: Any, parent: Context) -> None:
        """Put the W3C trace context of ``parent``'s span on the run's ``trace_context``, which
        its backend sends to the provider (a deployed agent hands it back on its callbacks)."""
        carrier = getattr(context, "trace_context", None)
        if isinstance(carrier, MutableMapping):
            W3C.inject(carrier, context=parent)

    @staticmethod
    def remote_span(carrier: Mapping[str, Any]) -> SpanContext | None:
        """The span a callback's W3C headers name, or None when they are malformed."""
        span = trace.get_current_span(W3C.extract(carrier))
        found = span.get_span_context()
        return found if found.is_valid else None
