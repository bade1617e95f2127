"""Fixtures: the plugin wired to the OpenTelemetry SDK's in-memory exporter and metric reader."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import pytest
from copass_router_otel import OpenTelemetry
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from copass_router import tool


@attrs.define
class Otel:
    """A plugin instance and what it reported."""

    plugin: OpenTelemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def tree(self) -> str:
        return render_tree(self.spans())

    def points(self, name: str) -> list[Any]:
        """The data points of one metric (empty if it was never recorded)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


def make_otel(**kwargs: Any) -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    plugin = OpenTelemetry(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        **kwargs,
    )
    return Otel(plugin, exporter, reader, tracer_provider)


@pytest.fixture
def otel() -> Iterator[Otel]:
    """The plugin (content capture off, as by default) and its in-memory exporters."""
    made = make_otel(capture_content=False)
    yield made
    made.tracer_provider.shutdown()


KEYS = (
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.tool.call.id",
    "copass_router.dispatch",
    "error.type",
)


def render_tree(spans: Sequence[ReadableSpan], keys: Sequence[str] = KEYS) -> str:
    """Spans as an indented tree (children in start order), with a few attributes each."""
    ids = {s.context.span_id for s in spans if s.context}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        attributes: Mapping[str, Any] = span.attributes or {}
        shown = [f"{k.rsplit('.', 1)[-1]}={_fmt(attributes[k])}" for k in keys if k in attributes]
        status = " ERROR" if span.status.status_code.name == "ERROR" else ""
        lines.append("  " * depth + span.name + status + ("  " + " ".join(shown) if shown else ""))
        for child in sorted(children.get(span.context.span_id, []), key=_start):  # type: ignore[union-attr]
            walk(child, depth + 1)

    for root in sorted(children.get(None, []), key=_start):
        walk(root, 0)
    return "\n".join(lines)


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


TOOL_MESSAGE = '/tool lookup {"city": "Paris"}'
