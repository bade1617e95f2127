"""The Agent Engine emulator's fault switches: the kit's shared ones plus Google's own.

``fail_next``, ``cut_stream`` and ``hang`` are the core's (:class:`copass_router.testing.Faults`,
the same on every emulator); match a kind of request by its path, e.g. ``path="*:streamQuery"``
(see :data:`KIND_PATHS`). What only this API has: an in-band error frame mid-stream, and
long-running operations that take some polls to finish.
"""

from __future__ import annotations

import threading

import attrs

from copass_router.testing import Faults

#: Path globs for each kind of request, for ``fail_next(path=...)`` and ``hang(path=...)``.
KIND_PATHS = {
    "create": "*/reasoningEngines",
    "operation": "*/operations/*",
    "query": "*:query",
    "stream": "*:streamQuery",
}


@attrs.frozen
class ErrorEvent:
    """End one stream with an in-band ``{"error": {...}}`` frame after ``after_events`` events."""

    after_events: int
    status: int = 500
    message: str = "Internal error."


class GoogleFaults(Faults):
    """The kit's faults, plus in-band stream errors and slow operations."""

    def __init__(self) -> None:
        super().__init__()
        self._error_lock = threading.Lock()
        self._errors: list[ErrorEvent] = []
        #: How many operation GETs report ``done: false`` before done (the SDK sleeps 10 s
        #: between polls, so keep this 0 in tests that are not about polling).
        self.operation_polls = 0

    def error_event(
        self, after_events: int = 1, *, status: int = 500, message: str = "Internal error."
    ) -> None:
        """End the next stream with an in-band ``{"error": {...}}`` frame after N events."""
        with self._error_lock:
            self._errors.append(ErrorEvent(after_events, status, message))

    def take_error_event(self) -> ErrorEvent | None:
        """The in-band error planned for the stream about to start, if any (it is spent)."""
        with self._error_lock:
            return self._errors.pop(0) if self._errors else None

    def clear(self) -> None:
        super().clear()
        with self._error_lock:
            self._errors.clear()
        self.operation_polls = 0
