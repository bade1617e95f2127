"""The emulator's fault switches and request log entries.

Switches are set from a test's thread and consumed by the emulator's server thread, so they sit
behind a lock. Each is one-shot (or counted): a fault fires on the next matching request(s).
"""

from __future__ import annotations

import threading
from typing import Any

import attrs


class StreamCut(Exception):
    """Raised inside a streaming response to drop the connection mid-turn."""


@attrs.frozen
class RecordedRequest:
    """One request as the emulator received it."""

    kind: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@attrs.frozen
class HttpFault:
    """An HTTP error answered instead of the real response."""

    status: int
    kind: str | None
    message: str
    retry_after: int | None = None


@attrs.frozen
class StreamPlan:
    """What happens to one stream: cut the connection or send an error frame after N events."""

    cut_after: int | None = None
    error_after: int | None = None
    error_status: int = 500
    error_message: str = ""


@attrs.define
class Faults:
    """The pending faults."""

    #: How many operation GETs report ``done: false`` before done (the SDK sleeps 10 s
    #: between polls, so keep this 0 in tests that are not about polling).
    operation_polls: int = 0
    _http: list[HttpFault] = attrs.field(factory=list)
    _streams: list[StreamPlan] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def fail_next(
        self,
        status: int = 429,
        *,
        count: int = 1,
        kind: str | None = None,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``kind``: query, stream, get, create...) with
        ``status`` and Google's error body (plus ``Retry-After`` if given)."""
        text = message or {
            429: "Quota exceeded for aiplatform.googleapis.com/reasoning_engine_requests.",
            503: "The service is currently unavailable.",
        }.get(status, "Internal error encountered.")
        with self._lock:
            self._http.extend(HttpFault(status, kind, text, retry_after) for _ in range(count))

    def cut_stream(self, after_events: int = 1) -> None:
        """Drop the next stream's connection after ``after_events`` events (mid-turn)."""
        with self._lock:
            self._streams.append(StreamPlan(cut_after=after_events))

    def error_event(
        self, after_events: int = 1, *, status: int = 500, message: str = "Internal error."
    ) -> None:
        """End the next stream with an in-band ``{"error": {...}}`` frame after N events."""
        with self._lock:
            self._streams.append(
                StreamPlan(error_after=after_events, error_status=status, error_message=message)
            )

    def take_http(self, kind: str) -> HttpFault | None:
        """The fault for a request of ``kind``, if one is pending (consumes it)."""
        with self._lock:
            for index, fault in enumerate(self._http):
                if fault.kind in (None, kind):
                    return self._http.pop(index)
        return None

    def take_stream(self) -> StreamPlan:
        """The plan for the next stream (a plain stream if none is pending)."""
        with self._lock:
            return self._streams.pop(0) if self._streams else StreamPlan()
