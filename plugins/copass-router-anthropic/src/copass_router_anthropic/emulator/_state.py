"""The emulator's bookkeeping: resources, the create limit, fault switches, the request log.

The request log and the shared faults are the core's emulator kit; :func:`error_response` is the
API's error body, which the kit renders its failures with.

Everything a test may want to read or flip lives here, in plain attributes. The HTTP layer
(``emulator/__init__.py``) and the session engine (``emulator/_session.py``) run in the server's
event loop; tests read counters and set switches from their own thread, which is safe for these
simple values.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from copass_router.testing import EmulatorKit, Faults, RecordedRequest, RequestLog

#: Resource kinds the real API limits to about 60 creates a minute per organisation.
LIMITED_KINDS = frozenset({"agent", "environment"})


def new_id(prefix: str) -> str:
    """An id in the API's style: a prefix and a random suffix."""
    return f"{prefix}_011{secrets.token_hex(10)}"


def now_iso() -> str:
    """The current time as RFC 3339 with microseconds, as the API sends it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An error the HTTP layer renders as the API's error body."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def error_response(status: int, message: str | None, *, error_type: str | None = None) -> Response:
    """The API's error body, with a request id in the header and the body."""
    request_id = new_id("req")
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    body = {
        "type": "error",
        "error": {"type": kind, "message": message or "emulated failure"},
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, headers={"request-id": request_id})


class AnthropicFaults(Faults):
    """The kit's faults (``fail_next``, ``cut_stream``, ``hang``), plus the Managed Agents ones.

    Plain attributes, set from a test; one-shot ones reset themselves when used:

    - ``chunk_delay``: seconds between streamed text deltas (a slow model).
    - ``session_error``: the next model request emits ``session.error`` of this type with
      ``session_error_retry`` (``retrying``: the turn then goes on; ``exhausted``: it ends idle
      with ``retries_exhausted``; ``terminal``: the session terminates).
    - ``stop_reason``: force the next turn's final idle stop reason (``budget_reached``...).
    - ``idle_before_tool_use``: announce ``requires_action`` before the tool-use events.
    - ``builtin_permission``: ``evaluated_permission`` for built-in and MCP tool calls.
    - ``hide_spans``: ``span.model_request_end`` events are not emitted (usage then shows
      only in ``session.usage``).
    - ``inject``: events emitted (once) at the start of the next model request, e.g. event
      types newer than the SDK, ``session.deleted`` or thread events.
    """

    def __init__(self) -> None:
        super().__init__()
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.chunk_delay = 0.0
        self.session_error: str | None = None
        self.session_error_retry = "retrying"
        self.stop_reason: str | None = None
        self.idle_before_tool_use = False
        self.builtin_permission = "allow"
        self.hide_spans = False
        self.inject: list[dict[str, Any]] = []

    def clear(self) -> None:
        super().clear()
        self._set_defaults()


class CreateLimiter:
    """A sliding-window limit on creates (the real API allows about 60 a minute)."""

    def __init__(self, limit: int = 60, period: float = 60.0) -> None:
        self.limit = limit
        self.period = period
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a slot and return 0, or return the seconds until one frees up."""
        with self._lock:
            now = time.monotonic()
            while self._stamps and self._stamps[0] <= now - self.period:
                self._stamps.popleft()
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return 0.0
            return self._stamps[0] + self.period - now


class EmulatorState:
    """Resources, counters, fault switches and the request log of one emulator."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        create_limit: int = 60,
        create_period: float = 60.0,
        page_size: int = 20,
    ) -> None:
        #: When set, only this bearer token is accepted; otherwise any non-empty one is.
        self.api_key = api_key
        self.limiter = CreateLimiter(create_limit, create_period)
        self.default_page_size = page_size
        #: The fault switches (the kit's and this API's own).
        self.faults = AnthropicFaults()
        #: Records requests, applies the kit's faults, counts event streams.
        self.kit = EmulatorKit(error_response, faults=self.faults)
        #: Every request received, in order (secrets redacted).
        self.requests: RequestLog = self.kit.requests
        #: Event streams: ``opened``, ``completed``, ``cut``, ``abandoned``.
        self.streams = self.kit.streams
        self.agents: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        #: Successful creates by kind: ``agent``, ``environment``, ``session``.
        self.creates: Counter[str] = Counter()
        #: Creates refused by the create limit.
        self.rate_limited = 0
        #: ``user.interrupt`` events received.
        self.interrupts = 0

    # --- switches -------------------------------------------------------------------------

    def forget_agent(self, agent_id: str) -> None:
        """Drop an agent as if the API no longer knew it (it answers 404 from now on)."""
        self.agents.pop(agent_id, None)

    # --- reading --------------------------------------------------------------------------

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path starts with ``path_prefix``."""
        return self.requests.matching(f"{path_prefix}*", method=method)

    def sent_events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Every event clients POSTed to sessions, in order (optionally of one type)."""
        out: list[dict[str, Any]] = []
        for r in self.requests_to("POST", "/v1/sessions/"):
            if r.path.endswith("/events") and isinstance(r.body, Mapping):
                out.extend(dict(e) for e in r.body.get("events", []) if isinstance(e, Mapping))
        return [e for e in out if event_type is None or e.get("type") == event_type]

    # --- creates --------------------------------------------------------------------------

    def admit_create(self, kind: str) -> float:
        """0 if a create of ``kind`` may proceed, else the retry-after in seconds (>= 1)."""
        if kind not in LIMITED_KINDS:
            return 0.0
        wait = self.limiter.try_acquire()
        if wait <= 0:
            return 0.0
        self.rate_limited += 1
        return float(max(1, math.ceil(wait)))


def paginate(
    items: list[dict[str, Any]], page: str | None, limit: int | None, default: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``items`` and the opaque cursor of the next page (None at the end)."""
    start = int(page.removeprefix("page_")) if page and page.startswith("page_") else 0
    size = max(1, min(limit or default, 1000))
    chunk = items[start : start + size]
    nxt = f"page_{start + size}" if start + size < len(items) else None
    return chunk, nxt
