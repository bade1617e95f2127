"""Figure 1b: per-event overhead of Router.run with copass-router-otel and an SDK tracer provider.

Routers over the same flood of events: no middleware (figure 1's baseline), one pass-through
middleware (what any middleware costs in the run loop), and the plugin reporting to a recording
SDK tracer provider (spans exported to a counter) and meter provider. Two streams: text deltas only
(what nearly every event of a run is), and a "mixed" stream in which every 100 events hold one
model request's Message and Usage and a tool call and result: two spans and four metric points
per 100 events, far denser than a real run; its figure is the cost per span.

Method, robust to a shared machine: the three routers run in interleaved rounds (the order
rotating), each round gives each router's time per event, and the figure is the median over the
rounds of the per-round difference to no middleware, with its quartiles and extremes and the
load average before and after in the detail.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from copass_router import (
    AgentBackend,
    Event,
    Message,
    Router,
    TextDelta,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    hookimpl,
)

from .report import Figure

EVENTS = 50_000
ROUNDS = 31


def _text(_: int) -> Event:
    return TextDelta(text="x")


def _mixed(i: int) -> Event:
    step = i % 100
    if step == 96:
        return Message(text="x" * 96)
    if step == 97:
        return Usage(input_tokens=100, output_tokens=96)
    if step == 98:
        return ToolCall(call_id=f"c{i}", name="lookup", arguments={"city": "Paris"})
    if step == 99:
        return ToolResult(call_id=f"c{i - 1}", name="lookup", output="sunny")
    return TextDelta(text="x")


class FloodBackend(AgentBackend):
    """Yields EVENTS fresh events made by ``make``, as fast as it can, then a ``Usage`` closing
    the last model request."""

    default_model = "flood"

    def __init__(self, make: Callable[[int], Event]) -> None:
        self.make = make

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        make = self.make
        for i in range(EVENTS):
            yield make(i)
        yield Usage(input_tokens=1, output_tokens=1)


class FloodPlugin:
    def __init__(self, make: Callable[[int], Event]) -> None:
        self.make = make

    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("flood", lambda context: FloodBackend(self.make))


def _otel_plugin() -> tuple[Any, Any]:
    from copass_router_otel import OpenTelemetry
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        """Exports by counting: a real exporter's own cost (network) is not the router's."""

        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.count += len(spans)
            return SpanExportResult.SUCCESS

    exporter = CountingExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    plugin = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return plugin, exporter


async def _routed(router: Router) -> float:
    start = time.perf_counter()
    count = 0
    async for _ in router.run(provider="flood", message="go"):
        count += 1
    assert count == EVENTS + 3  # RunStarted, the events, the closing Usage, RunFinished
    return time.perf_counter() - start


class PassThrough:
    """A middleware that passes every event on."""

    @hookimpl
    def copass_router_process_event(self, event: Any, context: Any) -> Any:
        return event


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def _spread(samples: list[float]) -> dict[str, float]:
    """Median, quartiles and extremes of ``samples`` (microseconds per event)."""
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return {
        "median": round(median, 3),
        "q1": round(q1, 3),
        "q3": round(q3, 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


async def _measure(make: Callable[[int], Event]) -> tuple[dict[str, list[float]], int]:
    """Microseconds per event of each router in each of ROUNDS interleaved rounds (the order
    rotates every round, so neither position nor a busy moment favours one router), and the
    spans one traced run made."""
    plugin, exporter = _otel_plugin()
    routers = {
        name: Router(
            plugins=[FloodPlugin(make), *extra],
            load_entry_points=False,
            store=":memory:",
            environ={},
        )
        for name, extra in (("none", []), ("pass_through", [PassThrough()]), ("otel", [plugin]))
    }
    for router in routers.values():
        await _routed(router)  # warm up: plugin loading, store, imports
    before = exporter.count
    await _routed(routers["otel"])
    spans = exporter.count - before
    names = list(routers)
    times: dict[str, list[float]] = {name: [] for name in routers}
    for round_ in range(ROUNDS):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(await _routed(routers[name]) / EVENTS * 1e6)
    for router in routers.values():
        await router.aclose()
    return times, spans


def _added(times: dict[str, list[float]], name: str) -> list[float]:
    """Per round: what ``name`` cost per event beyond no middleware in the same round (a
    paired difference: load that slows a round slows both sides of it)."""
    return [b - a for a, b in zip(times["none"], times[name], strict=True)]


def run() -> list[Figure]:
    """Added microseconds per event with the plugin (target: under 1 us), and per span."""
    load_before = _loadavg()
    text, _ = asyncio.run(_measure(_text))
    mixed, spans = asyncio.run(_measure(_mixed))
    load_after = _loadavg()
    added = _added(text, "otel")
    value = statistics.median(added)
    # What the mixed stream adds with the plugin, beyond what the plugin adds to text deltas.
    per_span = (statistics.median(_added(mixed, "otel")) - value) * EVENTS / spans
    return [
        Figure(
            "1b. per-event overhead added by the otel plugin (text deltas)",
            value,
            "us/event",
            "< 1 us",
            value < 1,
            {
                "method": f"median of {ROUNDS} interleaved rounds' paired differences, "
                f"{EVENTS} events a run",
                "added_by_otel_us": _spread(added),
                "added_by_one_pass_through_middleware_us": _spread(_added(text, "pass_through")),
                "no_middleware_us": _spread(text["none"]),
                "otel_plugin_us": _spread(text["otel"]),
                "loadavg_before_after": [load_before, load_after],
            },
        ),
        Figure(
            "1b. otel plugin: cost of one span (chat or execute_tool, with its metrics)",
            per_span,
            "us/span",
            "",
            None,
            {
                "mixed_added_by_otel_us_per_event": _spread(_added(mixed, "otel")),
                "spans_per_run": spans,
            },
        ),
    ]
