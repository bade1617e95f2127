"""Test helpers: the plugin wired to the OpenTelemetry SDK's in-memory exporter and metric
reader, and span trees rendered as text. Needs the SDK (the ``sdk`` extra).

    traced = in_memory()
    router = Router(plugins=[traced.plugin])
    ...  # run something
    print(traced.tree())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from . import OpenTelemetry


@attrs.define
class InMemoryTelemetry:
    """A plugin instance and what it reported."""

    plugin: OpenTelemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        """Every finished span, in start order."""
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, prefix: str) -> list[ReadableSpan]:
        """The finished spans whose name starts with ``prefix``."""
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def tree(self) -> str:
        """The finished spans as a text tree (see :func:`render_tree`)."""
        return render_tree(self.spans())

    def points(self, name: str) -> list[Any]:
        """The data points of one metric (empty if it was never recorded)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


def in_memory(**kwargs: Any) -> InMemoryTelemetry:
    """A plugin instance reporting to fresh in-memory SDK providers (keywords go to it)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    plugin = OpenTelemetry(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        **kwargs,
    )
    return InMemoryTelemetry(plugin, exporter, reader, tracer_provider)


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
        own = children.get(span.context.span_id, []) if span.context else []
        for child in sorted(own, key=_start):
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
