"""RemoteRouter: the same ``run()`` against a hosted router, over HTTP and Server-Sent Events.

``RemoteRouter(base_url, api_key)`` takes the same requests as :class:`Router` and yields the
same event objects, rebuilt by the core's one converter (an event type this client does not know
arrives as :class:`UnknownEvent`, never dropped). Errors the server answers before a stream
starts come back as the exceptions the in-process router raises. httpx and httpx-sse are
imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from copass_router._errors import InvalidRequestError
from copass_router._events import Event
from copass_router._types import RunRequest, SessionInfo, TranscriptTurn
from copass_router._wire import get_converter
from copass_router.client._problems import (
    RemoteRouterError,
    error_from_problem,
    raise_for_problem,
)
from copass_router.client._remote_stream import RESUME_RETRIES
from copass_router.content._parts import part_to_json
from copass_router.plugin_host._plugins import ProviderInfo
from copass_router.run._requests import build_request
from copass_router.run._results import RunResult, as_instance, collect

if TYPE_CHECKING:
    import httpx

    from copass_router.tools._approvals import ApprovalRequest

__all__ = ["RemoteRouter", "RemoteRouterError", "error_from_problem", "raise_for_problem"]
API_KEY_ENV = "COPASS_ROUTER_API_KEY"


def request_body(request: RunRequest) -> dict[str, Any]:
    """A run request as the JSON body of ``POST /v1/runs``."""
    if request.tools:
        raise InvalidRequestError(
            "a hosted run cannot carry tools (they are Python functions); register them on the "
            "server's router, and every run may use them",
            field="tools",
        )
    data: dict[str, Any] = get_converter().unstructure(request)
    data.pop("tools", None)
    if not isinstance(request.message, str):  # parts travel with their bytes, as base64
        data["message"] = [part_to_json(part) for part in request.message]
    data.update(data.pop("provider_fields", None) or {})  # top-level, as hosted JSON has them
    return {k: v for k, v in data.items() if v is not None}


class RemoteRouter:
    """A hosted router, used like an in-process :class:`Router`.

    :param base_url: where the router is served, e.g. ``http://127.0.0.1:8787``.
    :param api_key: one of the server's keys (default: ``COPASS_ROUTER_API_KEY``); None for a
        loopback server without keys.
    :param timeout: seconds for connecting and for each read; keep it above the server's
        heartbeat interval (15 s by default), which is the longest a healthy stream is quiet.
    :param headers: extra headers for every request.
    :param transport: an httpx transport (for tests or custom networking).
    :param resume_retries: reconnections in a row without a new event before a run whose
        connection dropped is given up (``connection_lost``); backoff from 50 ms to 2 s.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
        resume_retries: int = RESUME_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._transport = transport
        self._resume_retries = resume_retries
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"RemoteRouter({self.base_url!r})"  # never the key

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            headers = {"User-Agent": "copass-router-client", **self._headers}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> RemoteRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- running -----------------------------------------------------------------------------

    def run(self, request: RunRequest | None = None, /, **fields: Any) -> AsyncGenerator[Event]:
        """Run one turn on the hosted router and stream its events, as :meth:`Router.run` does.

        Invalid requests raise at once; errors the server finds before the stream starts
        (unknown provider or session, busy session, bad key) raise at the first iteration.
        A dropped connection is resumed where it broke (every event once, in order); breaking
        out of the loop cancels the turn on the server.
        Per-run ``tools`` are refused: register tools on the server's router instead.
        """
        return self._run(request_body(build_request(request, fields)))

    async def complete(self, request: RunRequest | None = None, /, **fields: Any) -> RunResult:
        """Run one turn to the end and collect it into a :class:`RunResult` (its ``output``
        an instance of the class given as ``output_schema``, if one was)."""
        result = await collect(self.run(request, **fields))
        return as_instance(result, fields.get("output_schema"))

    async def _run(self, body: dict[str, Any]) -> AsyncGenerator[Event]:
        from copass_router.client._remote_stream import RemoteRun

        run = RemoteRun(
            self._http(), body, self.base_url, self._resume_retries, headers=_trace_headers()
        )
        try:
            async for event in run.events():
                yield event
        finally:
            await run.close()  # left early: the run is cancelled on the server

    # -- discovery and sessions --------------------------------------------------------------

    async def _get_json(self, method: str, path: str, **params: Any) -> Any:
        response = await self._send(method, path, params)
        return response.json()

    async def _send(self, method: str, path: str, params: Mapping[str, Any]) -> httpx.Response:
        import httpx

        try:
            response = await self._http().request(method, path, params=dict(params))
        except httpx.TransportError as exc:
            raise RemoteRouterError(
                f"the hosted router at {self.base_url} could not be reached: {type(exc).__name__}",
                code="router_unreachable",
                retryable=True,
            ) from exc
        await raise_for_problem(response)
        return response

    async def providers(self) -> list[ProviderInfo]:
        """Every provider installed on the hosted router."""
        data = await self._get_json("GET", "/v1/providers")
        return [
            ProviderInfo(p["name"], p.get("plugin", ""), p.get("version"), p.get("description", ""))
            for p in data["providers"]
        ]

    async def get_session(self, session_id: str, end_user_id: str) -> SessionInfo:
        """A session of ``end_user_id``; :class:`SessionNotFoundError` for anyone else's."""
        data = await self._get_json("GET", _session_path(session_id), end_user_id=end_user_id)
        return _session(data["session"])

    async def transcript(self, session_id: str, end_user_id: str) -> list[TranscriptTurn]:
        """Every turn of a session of ``end_user_id``."""
        data = await self._get_json("GET", _session_path(session_id), end_user_id=end_user_id)
        return [get_converter().structure(turn, TranscriptTurn) for turn in data["turns"]]

    async def list_sessions(self, end_user_id: str, limit: int = 50) -> list[SessionInfo]:
        """The end user's recent sessions, newest first."""
        data = await self._get_json("GET", "/v1/sessions", end_user_id=end_user_id, limit=limit)
        return [_session(s) for s in data["sessions"]]

    async def delete_session(self, session_id: str, end_user_id: str) -> None:
        """Delete a session of ``end_user_id`` and its transcript."""
        await self._send("DELETE", _session_path(session_id), {"end_user_id": end_user_id})

    # -- approvals ---------------------------------------------------------------------------

    async def approve(self, run_id: str, call_id: str, end_user_id: str = "local") -> bool:
        """Let a call that waits for approval run (see ``Router.approve``); False: it was not
        waiting (decided, timed out, or its run ended). Any worker takes it."""
        return await self._decide(run_id, call_id, end_user_id, {"approved": True})

    async def deny(
        self, run_id: str, call_id: str, reason: str = "", end_user_id: str = "local"
    ) -> bool:
        """Refuse a call that waits for approval; the model sees ``reason``."""
        return await self._decide(
            run_id, call_id, end_user_id, {"approved": False, "reason": reason}
        )

    async def pending_approvals(
        self, run_id: str, end_user_id: str = "local"
    ) -> list[ApprovalRequest]:
        """The calls of ``run_id`` waiting for a decision, on whichever worker runs it (for a
        client that reconnects; see ``Router.waiting_approvals``)."""
        from copass_router.tools._approvals import ApprovalRequest

        path = f"/v1/runs/{quote(run_id, safe='')}/approvals"
        listed = await self._get_json("GET", path, end_user_id=end_user_id)
        return [
            ApprovalRequest(
                run_id=run_id,
                session_id=str(item.get("session_id", "")),
                end_user_id=end_user_id,
                provider=str(item.get("provider", "")),
                call_id=str(item["call_id"]),
                name=str(item["name"]),
                arguments=dict(item.get("arguments") or {}),
            )
            for item in listed.get("pending", ())
        ]

    async def _decide(
        self, run_id: str, call_id: str, end_user_id: str, body: dict[str, Any]
    ) -> bool:
        import httpx

        path = f"/v1/runs/{quote(run_id, safe='')}/approvals/{quote(call_id, safe='')}"
        try:
            response = await self._http().post(path, params={"end_user_id": end_user_id}, json=body)
        except httpx.TransportError as exc:
            raise RemoteRouterError(
                f"the hosted router at {self.base_url} could not be reached: {type(exc).__name__}",
                code="router_unreachable",
                retryable=True,
            ) from exc
        if response.status_code == 409:
            return False
        await raise_for_problem(response)
        return True


def _trace_headers() -> dict[str, str]:
    """The caller's W3C trace context (``traceparent``), when OpenTelemetry is in use.

    An application that has not imported OpenTelemetry has no span to propagate: then nothing
    is imported and nothing is sent.
    """
    if "opentelemetry.context" not in sys.modules:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _session_path(session_id: str) -> str:
    return "/v1/sessions/" + quote(session_id, safe="")


def _session(data: Mapping[str, Any]) -> SessionInfo:
    return SessionInfo(
        session_id=data["session_id"],
        end_user_id=data["end_user_id"],
        turn_count=int(data.get("turn_count", 0)),
        created_at=float(data.get("created_at", 0.0)),
        updated_at=float(data.get("updated_at", 0.0)),
    )
