"""The one fault API every emulator shares: fail the next requests, cut a stream, hang.

A test sets a fault from its own thread; the emulator's server thread takes it when a matching
request (or stream) comes. Each fault is counted: it fires on the next ``count`` matches, then it
is spent. :class:`~copass_router.testing.EmulatorKit` applies failures and hangs to every request
and cuts to every event stream, so an emulator only renders its provider's error body.

An emulator may subclass :class:`Faults` to add switches only its provider has (an in-band error
event, a forced stop reason); these three stay the same everywhere.
"""

from __future__ import annotations

import threading
from collections import deque
from fnmatch import fnmatchcase
from typing import Literal

import attrs

CutMode = Literal["drop", "eof"]


@attrs.frozen
class Failure:
    """Answer a request with an error ``status`` instead of serving it.

    ``message`` None lets the emulator use its provider's usual text for the status.
    """

    status: int
    message: str | None = None
    retry_after: float | None = None
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is one this failure is for."""
        return _matches(self.method, self.path, method, path)


@attrs.frozen
class Hang:
    """Wait ``seconds`` before serving a request (a slow or unresponsive API)."""

    seconds: float
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is one this hang is for."""
        return _matches(self.method, self.path, method, path)


@attrs.frozen
class Cut:
    """End an event stream after ``after_events`` events.

    ``drop`` closes the connection mid-body (the SDK raises a connection error); ``eof`` ends the
    body cleanly without the provider's end marker (the SDK just stops, as behind a proxy that
    timed out).
    """

    after_events: int
    mode: CutMode = "drop"


def _matches(want_method: str | None, pattern: str | None, method: str, path: str) -> bool:
    if want_method is not None and want_method.upper() != method.upper():
        return False
    return pattern is None or fnmatchcase(path, pattern)


def _count(count: int) -> int:
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    return count


class Faults:
    """Pending faults of one emulator. Thread-safe; every method may be called from a test.

    ``path`` is a glob matched against the whole request path (``/v1/sessions/*``,
    ``*:streamQuery``); ``method`` an HTTP method. Both None match every request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self._hangs: list[Hang] = []
        self._cuts: deque[Cut] = deque()

    # -- setting ---------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 429,
        *,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and the provider's error
        body (``message`` or its usual text), plus ``retry-after`` when given."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status}")
        failure = Failure(status, message, retry_after, method, path)
        with self._lock:
            self._failures.extend([failure] * _count(count))

    def cut_stream(self, after_events: int = 1, *, count: int = 1, mode: CutMode = "drop") -> None:
        """Cut the next ``count`` event streams after ``after_events`` events each."""
        if mode not in ("drop", "eof"):
            raise ValueError(f"mode must be 'drop' or 'eof', not {mode!r}")
        if after_events < 0:
            raise ValueError("after_events must not be negative")
        with self._lock:
            self._cuts.extend([Cut(after_events, mode)] * _count(count))

    def hang(
        self,
        seconds: float,
        *,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Hold the next ``count`` matching requests ``seconds`` before serving them."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._hangs.extend([Hang(seconds, method, path)] * _count(count))

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._failures.clear()
            self._hangs.clear()
            self._cuts.clear()

    # -- taking (the emulator's side) ------------------------------------------------------

    def take_failure(self, method: str, path: str) -> Failure | None:
        """The failure that claims this request, if one is pending (it is spent)."""
        with self._lock:
            for index, failure in enumerate(self._failures):
                if failure.matches(method, path):
                    return self._failures.pop(index)
        return None

    def take_hang(self, method: str, path: str) -> float:
        """Seconds to hold this request (0 when no hang is pending for it)."""
        with self._lock:
            for index, hang in enumerate(self._hangs):
                if hang.matches(method, path):
                    return self._hangs.pop(index).seconds
        return 0.0

    def take_cut(self) -> Cut | None:
        """The cut for the stream about to start, if one is pending (it is spent)."""
        with self._lock:
            return self._cuts.popleft() if self._cuts else None

    @property
    def pending(self) -> int:
        """How many faults have not fired yet."""
        with self._lock:
            return len(self._failures) + len(self._hangs) + len(self._cuts)
