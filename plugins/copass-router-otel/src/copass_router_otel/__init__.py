"""copass-router-otel: OpenTelemetry GenAI traces and metrics for every run, on every provider.

Installed, the plugin registers :data:`plugin`, which reports to the global tracer and meter
providers (whatever your application or ``opentelemetry-instrument`` configured). For other
providers, or to record message content, register your own :class:`OpenTelemetry` and block the
installed one (``COPASS_ROUTER_DISABLE_PLUGINS=otel``).

This module imports nothing from OpenTelemetry, nor the core's event classes: the first run
does (``run_trace``), so loading the plugin (e.g. for ``copass-router providers``) costs nothing
until a run starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import copass_router
from copass_router import hookimpl

if TYPE_CHECKING:
    from copass_router import Event, RunStarted

    from .run_trace import RunTrace
    from .telemetry import Telemetry

__all__ = ["CAPTURE_CONTENT_ENV", "OpenTelemetry", "plugin"]

#: The GenAI instrumentations' switch for recording prompts and outputs (off unless "true").
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


class OpenTelemetry:
    """Event middleware that turns each run's events into spans and metrics.

    One ``invoke_agent`` span per run, a ``chat {model}`` span per model request and an
    ``execute_tool {name}`` span per tool call (also those reaching the router through the
    ``copass_dispatch`` callback), with ``gen_ai.*`` attributes of the GenAI semantic conventions.

    :param tracer_provider: where spans go (default: the global tracer provider).
    :param meter_provider: where metrics go (default: the global meter provider).
    :param capture_content: record output text and tool arguments and results on spans. Off
        by default (no prompts in traces); None reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_
        MESSAGE_CONTENT``.
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._capture_content = capture_content
        self._telemetry: Telemetry | None = None
        self._handlers: dict[type[Event], Any] = {}
        self._runs: dict[str, RunTrace] = {}

    def __repr__(self) -> str:
        return f"OpenTelemetry(runs_in_flight={len(self._runs)})"

    @hookimpl
    @copass_router.event_types(
        "RunStarted", "Usage", "Message", "ToolCall", "ToolResult", "Error", "RunFinished"
    )  # by name: loading the plugin loads no event class
    def copass_router_process_event(self, event: Event, context: Any) -> Event:
        """Look at the events spans are made of (never change or drop one); the run loop does
        not call it for text and thinking deltas, but for a run's first event of any kind."""
        run = self._runs.get(event.run_id)
        if run is None:
            if type(event) is copass_router.RunStarted:
                self._runs[event.run_id] = self._begin(event, context)
            return event
        if run.awaiting_first:
            run.first_event()
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(run, event)
            if type(event) is copass_router.RunFinished:
                del self._runs[event.run_id]
        return event

    @hookimpl
    def copass_router_prepare(self) -> None:
        """On a hosted server, at start-up: import OpenTelemetry and the run tracer now, not
        on the event loop when the first run starts."""
        from . import run_trace, telemetry  # noqa: F401

    def _begin(self, started: RunStarted, context: Any) -> RunTrace:
        if self._telemetry is None:
            from .run_trace import HANDLERS
            from .telemetry import Telemetry

            capture = self._capture_content
            if capture is None:
                capture = os.environ.get(CAPTURE_CONTENT_ENV, "").lower() == "true"
            self._telemetry = Telemetry(self._tracer_provider, self._meter_provider, capture)
            self._handlers = HANDLERS
        from .run_trace import RunTrace

        return RunTrace(self._telemetry, started, context)


#: The instance the ``copass_router`` entry point registers (global providers, no content).
plugin = OpenTelemetry()
