"""The emulator's bookkeeping: resources, the create limit, fault switches, the request log.

Everything a test may want to read or flip lives here, in plain attributes. The HTTP layer
(``emulator.py``) and the session engine (``emulator_session.py``) run in the server's event loop;
tests read counters and set switches from their own thread, which is safe for these simple values.
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

import attrs

#: Requests kept in the log of a long-running emulator.
MAX_LOGGED = 50_000
#: Resource kinds the real API limits to about 60 creates a minute per organisation.
LIMITED_KINDS = frozenset({"agent", "environment"})


def new_id(prefix: str) -> str:
    """An id in the API's style: a prefix and a random suffix."""
    return f"{prefix}_011{secrets.token_hex(10)}"


def now_iso() -> str:
    """The current time as RFC 3339 with microseconds, as the API sends it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@attrs.define
class RecordedRequest:
    """One request as the emulator received it (headers lower-cased, body decoded JSON)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any = None


@attrs.define
class FailRule:
    """Answer the next ``count`` matching requests with an error status instead of serving them."""

    status: int
    count: int = 1
    method: str | None = None
    path_prefix: str | None = None
    retry_after: float | None = None
    message: str = "emulated failure"

    def matches(self, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@attrs.define
class Faults:
    """Fault switches. Set them on ``EmulatorState.faults``; one-shot ones count themselves down.

    - ``rules``: HTTP-level failures (see :meth:`EmulatorState.fail_next`).
    - ``delay``: seconds added before every non-streaming response (a slow API).
    - ``chunk_delay``: seconds between streamed text deltas (a slow model).
    - ``cut_streams`` / ``cut_after``: the next ``cut_streams`` event streams are cut (the
      connection dropped without a clean end) after ``cut_after`` events.
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

    rules: list[FailRule] = attrs.field(factory=list)
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_streams: int = 0
    cut_after: int = 3
    session_error: str | None = None
    session_error_retry: str = "retrying"
    stop_reason: str | None = None
    idle_before_tool_use: bool = False
    builtin_permission: str = "allow"
    hide_spans: bool = False
    inject: list[dict[str, Any]] = attrs.field(factory=list)


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
        self.faults = Faults()
        self.agents: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        #: Successful creates by kind: ``agent``, ``environment``, ``session``.
        self.creates: Counter[str] = Counter()
        #: Creates refused by the create limit.
        self.rate_limited = 0
        #: ``user.interrupt`` events received.
        self.interrupts = 0
        #: Event streams opened.
        self.streams_opened = 0
        self.requests: list[RecordedRequest] = []

    # --- switches -------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: float | None = None,
        message: str = "emulated failure",
    ) -> FailRule:
        """Make the next ``count`` requests matching method and path prefix fail with ``status``."""
        rule = FailRule(status, count, method, path_prefix, retry_after, message)
        self.faults.rules.append(rule)
        return rule

    def take_failure(self, method: str, path: str) -> FailRule | None:
        """The fail rule that claims this request, counting it down."""
        for rule in self.faults.rules:
            if rule.matches(method, path):
                rule.count -= 1
                return rule
        return None

    def forget_agent(self, agent_id: str) -> None:
        """Drop an agent as if the API no longer knew it (it answers 404 from now on)."""
        self.agents.pop(agent_id, None)

    # --- reading --------------------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        """Log a request; a long-running emulator keeps the most recent ones only."""
        self.requests.append(request)
        if len(self.requests) > MAX_LOGGED:
            del self.requests[: MAX_LOGGED // 2]

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path starts with ``path_prefix``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

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
