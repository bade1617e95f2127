"""One hosted run as RemoteRouter streams it, across dropped connections.

The run starts with ``POST /v1/runs``. When the connection drops before ``run_finished``, the
client asks for the rest with ``GET /v1/runs/{run_id}/events`` and ``Last-Event-ID: <seq>`` (the
seq of the last event it yielded), a bounded number of times with exponential backoff; the count
starts over whenever a connection delivers something. Events at or below that seq are skipped,
so the caller gets every event exactly once, in order. When the run cannot be resumed (no
resume on the server, the log expired, retries spent) the stream ends as before: ``error``
(``connection_lost``) then ``run_finished`` (``stop_reason: error``). A stream left early
(break, ``aclose()``) cancels the run on the server (``POST /v1/runs/{run_id}/cancel``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from copass_router._events import (
    Error,
    Event,
    RunFinished,
    RunStarted,
    UnknownEvent,
    Usage,
    event_from_dict,
)
from copass_router._types import StopReason, TokenCounts

if TYPE_CHECKING:
    import httpx

RESUME_RETRIES = 8
_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _StreamState:
    """What a client knows of a run so far, to resume it or to end it if it cannot."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.last: Event | None = None
        self.usage = TokenCounts()
        self.finished = False

    def note(self, event: Event) -> None:
        self.last = event
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, Usage):
            self.usage += event.as_token_usage()
        elif isinstance(event, RunFinished):
            self.finished = True

    def lost(self, reason: str) -> list[Event]:
        run_id = self.started.run_id if self.started else ""
        seq = self.last.seq + 1 if self.last else 0
        session_id = self.started.session_id if self.started else ""
        return [
            Error(
                run_id=run_id,
                seq=seq,
                code="connection_lost",
                retryable=True,
                message=f"the connection to the hosted router was lost mid-run ({reason})",
            ),
            RunFinished(
                run_id=run_id,
                seq=seq + 1,
                stop_reason=StopReason.ERROR,
                usage=self.usage,
                session_id=session_id,
            ),
        ]


class _GiveUp(Exception):
    """The run cannot be resumed; the message says why."""


class RemoteRun:
    """One run on a hosted router, resumed after dropped connections."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        body: dict[str, Any],
        base_url: str,
        retries: int = RESUME_RETRIES,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self._body = body
        self._base_url = base_url
        self._retries = retries
        self._headers = dict(headers or {})
        self._end_user = str(body.get("end_user_id") or "local")
        self.run_id: str | None = None
        self.state = _StreamState()
        self._ended = False

    async def events(self) -> AsyncGenerator[Event]:
        """The run's events, exactly once each, in order, with exactly one end."""
        from httpx_sse import SSEError

        from copass_router.client._problems import RemoteRouterError

        failures = 0
        while True:
            delivered = 0
            try:
                async for event in self._connect():
                    delivered += 1
                    yield event
                    if self.state.finished:
                        self._ended = True
                        return
                reason = "the stream ended before run_finished"
            except _GiveUp as exc:
                reason = str(exc)
                break
            except SSEError as exc:
                raise RemoteRouterError(str(exc), code="bad_stream") from exc
            except _Dropped as exc:
                reason = str(exc)
            if self.run_id is None:
                raise RemoteRouterError("the hosted router sent an empty stream", code="bad_stream")
            failures = 0 if delivered else failures + 1
            if failures > self._retries:
                break
            await asyncio.sleep(_delay(max(failures, 1)))
        self._ended = True
        for event in self.state.lost(reason):
            yield event

    async def _connect(self) -> AsyncGenerator[Event]:
        import httpx
        from httpx_sse import EventSource

        from copass_router.client._problems import RemoteRouterError, raise_for_problem

        try:
            async with self._open() as response:
                if self.run_id is None:
                    await raise_for_problem(response)
                    self.run_id = response.headers.get("x-copass-run-id")
                elif not response.is_success:
                    await self._refused(response)
                    return
                async for sse in EventSource(response).aiter_sse():
                    event = _decode(sse.event, sse.data)
                    if event is None or self._seen(event):
                        continue
                    self.state.note(event)
                    if self.run_id is None and self.state.started is not None:
                        self.run_id = self.state.started.run_id
                    yield event
        except httpx.TransportError as exc:
            if self.run_id is None and self.state.started is None:
                raise RemoteRouterError(
                    f"the hosted router at {self._base_url} could not be reached: "
                    f"{type(exc).__name__}",
                    code="router_unreachable",
                    retryable=True,
                ) from exc
            raise _Dropped(type(exc).__name__) from exc

    def _open(self) -> contextlib.AbstractAsyncContextManager[httpx.Response]:
        accept = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.run_id is None:
            return self._http.stream(
                "POST", "/v1/runs", json=self._body, headers={**accept, **self._headers}
            )
        if self.state.last is not None:
            accept["Last-Event-ID"] = str(self.state.last.seq)
        return self._http.stream(
            "GET",
            f"/v1/runs/{quote(self.run_id, safe='')}/events",
            params={"end_user_id": self._end_user},
            headers=accept,
        )

    def _seen(self, event: Event) -> bool:
        last = self.state.last
        return last is not None and event.seq <= last.seq and event.run_id == last.run_id

    async def _refused(self, response: httpx.Response) -> None:
        if response.status_code in _RETRY_STATUSES:
            raise _Dropped(f"HTTP {response.status_code} on resume")
        await response.aread()
        try:
            detail = json.loads(response.content).get("detail")
        except (ValueError, AttributeError):
            detail = None
        why = f": {detail}" if detail else ""
        raise _GiveUp(f"the run could not be resumed: HTTP {response.status_code}{why}")

    async def close(self) -> None:
        """Cancel the run on the server if the caller left before its end (best effort)."""
        if self._ended or self.run_id is None:
            return
        self._ended = True
        with contextlib.suppress(Exception):
            await self._http.post(
                f"/v1/runs/{quote(self.run_id, safe='')}/cancel",
                params={"end_user_id": self._end_user},
                timeout=5.0,
            )


class _Dropped(Exception):
    """The connection dropped (or a resume was refused for now); the message says how."""


def _delay(failures: int) -> float:
    base = min(_FIRST_DELAY * 2 ** (failures - 1), _MAX_DELAY)
    return base * random.uniform(0.5, 1.0)  # jitter: a fleet of clients does not reconnect at once


def _decode(kind: str, data: str) -> Event | None:
    if not data:
        return None
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        # Not an event this client can read; pass it on rather than drop it.
        return UnknownEvent(event_type=kind or "message", data={"raw": data})
    payload.setdefault("type", kind)
    return event_from_dict(payload)
