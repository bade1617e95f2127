"""The emulator's HTTP surface: the Managed Agents endpoints the anthropic SDK calls.

Paths, headers, ``key[]`` query arrays, error bodies, cursor pagination and SSE framing follow
what the SDK (2.10+) sends and parses; resources carry the fields its models declare.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._frames import frame
from ._resources import agent_tool, invalid, new_agent, new_environment, new_session
from ._session import SessionEngine
from ._state import ApiError, EmulatorState, error_response, new_id, now_iso, paginate

BETA = "managed-agents-2026-04-01"
#: The largest request body the API takes (32 MB; larger ones get 413 request_too_large).
MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: The most events an event stream writes at once.
BATCH = 16
Handler = Callable[[Request, Any], Awaitable[Response]]


def ok(body: Any, background: BackgroundTask | None = None) -> JSONResponse:
    return JSONResponse(body, headers={"request-id": new_id("req")}, background=background)


class EmulatorApi:
    """The endpoint handlers, bound to one :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.engines: dict[str, SessionEngine] = {}

    # --- plumbing --------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        r = self._wrap
        return [
            Route("/v1/agents", r(self.create_agent), methods=["POST"]),
            Route("/v1/agents", r(self.list_agents), methods=["GET"]),
            Route("/v1/agents/{id}", r(self.get_agent), methods=["GET"]),
            Route("/v1/agents/{id}", r(self.update_agent), methods=["POST"]),
            Route("/v1/agents/{id}/archive", r(self.archive_agent), methods=["POST"]),
            Route("/v1/environments", r(self.create_environment), methods=["POST"]),
            Route("/v1/environments", r(self.list_environments), methods=["GET"]),
            Route("/v1/environments/{id}", r(self.get_environment), methods=["GET"]),
            Route("/v1/environments/{id}", r(self.delete_environment), methods=["DELETE"]),
            Route("/v1/environments/{id}/archive", r(self.archive_environment), methods=["POST"]),
            Route("/v1/sessions", r(self.create_session), methods=["POST"]),
            Route("/v1/sessions", r(self.list_sessions), methods=["GET"]),
            Route("/v1/sessions/{id}", r(self.get_session), methods=["GET"]),
            Route("/v1/sessions/{id}", r(self.delete_session), methods=["DELETE"]),
            Route("/v1/sessions/{id}/archive", r(self.archive_session), methods=["POST"]),
            Route("/v1/sessions/{id}/events", r(self.send_events), methods=["POST"]),
            Route("/v1/sessions/{id}/events", r(self.list_events), methods=["GET"]),
            Route("/v1/sessions/{id}/events/stream", r(self.stream_events), methods=["GET"]),
        ]

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            if len(raw) > MAX_REQUEST_BYTES:
                return error_response(
                    413, "Request exceeds the maximum size", error_type="request_too_large"
                )
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return error_response(400, "request body is not valid JSON")
            refused = self._refuse(request.headers)
            if refused is not None:
                return refused
            try:
                return await handler(request, body)
            except ApiError as exc:
                response = error_response(exc.status, exc.message, error_type=exc.error_type)
                if isinstance(exc, _RateLimited):
                    response.headers["retry-after"] = f"{exc.retry_after:g}"
                return response

        return endpoint

    def _refuse(self, headers: Mapping[str, str]) -> Response | None:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        token = token or headers.get("x-api-key", "")
        if not token or (self.state.api_key is not None and token != self.state.api_key):
            return error_response(401, "invalid x-api-key or bearer token")
        if BETA not in headers.get("anthropic-beta", ""):
            return error_response(400, f"this endpoint needs the anthropic-beta header {BETA}")
        return None

    def _admit(self, kind: str) -> None:
        wait = self.state.admit_create(kind)
        if wait:
            raise _RateLimited(wait)

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request_error", "request body must be a JSON object")
        return body

    def _list(self, request: Request, items: list[dict[str, Any]]) -> JSONResponse:
        q = request.query_params
        if q.get("include_archived") not in ("true", "True"):
            items = [i for i in items if not i.get("archived_at")]
        limit = int(q["limit"]) if q.get("limit") else None
        data, nxt = paginate(items, q.get("page"), limit, self.state.default_page_size)
        return ok({"data": data, "next_page": nxt, "prev_page": None})

    @staticmethod
    def _find(table: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
        found = table.get(key)
        if found is None:
            raise ApiError(404, "not_found_error", f"{what} {key!r} not found")
        return found

    # --- agents ----------------------------------------------------------------------------

    async def create_agent(self, request: Request, body: Any) -> Response:
        agent = new_agent(self._object(body))
        self._admit("agent")
        self.state.agents[agent["id"]] = agent
        self.state.creates["agent"] += 1
        return ok(agent)

    async def list_agents(self, request: Request, body: Any) -> Response:
        return self._list(request, list(self.state.agents.values()))

    async def get_agent(self, request: Request, body: Any) -> Response:
        return ok(self._find(self.state.agents, request.path_params["id"], "agent"))

    async def update_agent(self, request: Request, body: Any) -> Response:
        agent = self._find(self.state.agents, request.path_params["id"], "agent")
        changes = self._object(body)
        if changes.get("version") not in (None, agent["version"]):
            raise ApiError(409, "conflict_error", "agent version does not match")
        for key in ("name", "description", "system", "metadata", "mcp_servers", "skills"):
            if key in changes:
                agent[key] = changes[key]
        if "tools" in changes:
            agent["tools"] = [agent_tool(t) for t in changes["tools"] or []]
        agent["version"] += 1
        agent["updated_at"] = now_iso()
        return ok(agent)

    async def archive_agent(self, request: Request, body: Any) -> Response:
        agent = self._find(self.state.agents, request.path_params["id"], "agent")
        agent["archived_at"] = agent["archived_at"] or now_iso()
        return ok(agent)

    # --- environments ----------------------------------------------------------------------

    async def create_environment(self, request: Request, body: Any) -> Response:
        env = new_environment(self._object(body))
        self._admit("environment")
        self.state.environments[env["id"]] = env
        self.state.creates["environment"] += 1
        return ok(env)

    async def list_environments(self, request: Request, body: Any) -> Response:
        return self._list(request, list(self.state.environments.values()))

    async def get_environment(self, request: Request, body: Any) -> Response:
        return ok(self._find(self.state.environments, request.path_params["id"], "environment"))

    async def delete_environment(self, request: Request, body: Any) -> Response:
        env_id = request.path_params["id"]
        self._find(self.state.environments, env_id, "environment")
        del self.state.environments[env_id]
        return ok({"id": env_id, "type": "environment_deleted"})

    async def archive_environment(self, request: Request, body: Any) -> Response:
        env = self._find(self.state.environments, request.path_params["id"], "environment")
        env["archived_at"] = env["archived_at"] or now_iso()
        return ok(env)

    # --- sessions --------------------------------------------------------------------------

    async def create_session(self, request: Request, body: Any) -> Response:
        spec = self._object(body)
        ref = spec.get("agent")
        agent_id = ref if isinstance(ref, str) else (ref or {}).get("id")
        if not agent_id:
            raise invalid("agent: required")
        agent = self._find(self.state.agents, str(agent_id), "agent")
        env_id = str(spec.get("environment_id") or "")
        session = new_session(
            spec, agent, self._find(self.state.environments, env_id, "environment")
        )
        session_id = str(session["id"])
        self.state.sessions[session_id] = session
        self.state.creates["session"] += 1
        engine = self.engines[session_id] = SessionEngine(self.state, session)
        initial = spec.get("initial_events") or []
        if initial:
            await engine.accept(list(initial))[1]()
        return ok(session)

    def _engine(self, session_id: str) -> SessionEngine:
        self._find(self.state.sessions, session_id, "session")
        return self.engines[session_id]

    async def list_sessions(self, request: Request, body: Any) -> Response:
        return self._list(request, list(self.state.sessions.values()))

    async def get_session(self, request: Request, body: Any) -> Response:
        return ok(self._find(self.state.sessions, request.path_params["id"], "session"))

    async def delete_session(self, request: Request, body: Any) -> Response:
        session_id = request.path_params["id"]
        engine = self._engine(session_id)
        await engine.shutdown()
        engine.publish({"type": "session.deleted", "id": new_id("sevt"), "processed_at": now_iso()})
        engine.close_streams()
        del self.state.sessions[session_id], self.engines[session_id]
        return ok({"id": session_id, "type": "session_deleted"})

    async def archive_session(self, request: Request, body: Any) -> Response:
        session = self._find(self.state.sessions, request.path_params["id"], "session")
        session["archived_at"] = session["archived_at"] or now_iso()
        return ok(session)

    # --- events ----------------------------------------------------------------------------

    async def send_events(self, request: Request, body: Any) -> Response:
        engine = self._engine(request.path_params["id"])
        events = self._object(body).get("events")
        if not isinstance(events, list) or not events:
            raise ApiError(400, "invalid_request_error", "events: a non-empty list is required")
        stored, react = engine.accept(events)
        return ok({"data": stored}, background=BackgroundTask(react))

    async def list_events(self, request: Request, body: Any) -> Response:
        engine = self._engine(request.path_params["id"])
        q = request.query_params
        events = list(engine.log)
        types = q.getlist("types[]")
        if types:
            events = [e for e in events if e["type"] in types]
        if q.get("order") == "desc":
            events.reverse()
        limit = int(q["limit"]) if q.get("limit") else None
        data, nxt = paginate(events, q.get("page"), limit, self.state.default_page_size)
        return ok({"data": data, "next_page": nxt})

    async def stream_events(self, request: Request, body: Any) -> Response:
        engine = self._engine(request.path_params["id"])
        sub = engine.subscribe(frozenset(request.query_params.getlist("event_deltas[]")))

        async def frames() -> AsyncIterator[list[bytes | str]]:
            # What is queued goes out together (at most BATCH events a write), as a server
            # writes what it has: a model that streams faster than the client reads.
            try:
                while True:
                    ready = [await sub.queue.get()]
                    while len(ready) < BATCH and not sub.queue.empty():
                        ready.append(sub.queue.get_nowait())
                    out: list[bytes | str] = []
                    for event in ready:
                        if event is None:
                            break
                        out.append(event if isinstance(event, str) else frame(event))
                    if out:
                        yield out
                    if len(out) < len(ready):
                        return
            finally:
                engine.unsubscribe(sub)

        headers = {"request-id": new_id("req"), "cache-control": "no-cache"}
        return self.state.kit.event_stream(frames(), headers=headers)


class _RateLimited(ApiError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(429, "rate_limit_error", "rate limit: too many creates, slow down")
        self.retry_after = retry_after
