"""Tracing for the command line and ``serve``, configured by OpenTelemetry's standard variables.

A library user configures OpenTelemetry in their program; a command has no program to do it in.
So when the otel plugin (``copass-router-otel``) and the OpenTelemetry SDK are installed and
``OTEL_TRACES_EXPORTER`` names exporters (``console``, ``otlp``...), the command sets up a tracer
provider with them (each found under the SDK's ``opentelemetry_traces_exporter`` entry points,
its resource from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``), and flushes it on exit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from importlib import metadata

from copass_router._errors import ConfigurationError

EXPORTER_GROUP = "opentelemetry_traces_exporter"


def _wanted() -> list[str]:
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Trace what runs inside, when the environment asks for it and the plugin is installed."""
    names = _wanted()
    if not names or importlib.util.find_spec("copass_router_otel") is None:
        yield
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER is set but the OpenTelemetry SDK is not installed ({exc}); "
            "install the otel plugin's sdk extra, or unset OTEL_TRACES_EXPORTER"
        ) from exc
    found = {e.name: e for e in metadata.entry_points(group=EXPORTER_GROUP)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER names {', '.join(missing)}, which no installed package "
            f"provides; installed exporters: {', '.join(sorted(found)) or 'none'}"
        )
    provider = TracerProvider(resource=Resource.create())
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(found[name].load()()))
    trace.set_tracer_provider(provider)
    try:
        yield
    finally:
        provider.shutdown()  # flushes the batch: the last run's spans are exported too
