"""An emulator of the OpenAI Agents API (``client.beta.agents``), for tests and offline work.

The real ``openai`` SDK runs against it unchanged (``base_url="http://127.0.0.1:PORT/v1"``):
saved agents (create, retrieve, list, delete; creates limited per period, 429 with
``retry-after`` past the limit), sessions (create, retrieve, update, delete), the session's
live event stream (SSE, one ``event:``/``data:`` frame per event, open until the client leaves)
and its inputs (a message, a tool result, a cancel). The agent's "model" is
:func:`copass_router.testing.scripted_reply` over the session's items. The request log, the
fault switches (``fail_next``, ``cut_stream``, ``hang``) and the loopback server are the core's
emulator kit. Run it with ``copass-router emulate openai-agents``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router.testing import EmulatorKit, Faults, LoopbackServer, serve_emulator

from ._agent_registry import AgentRegistry, RateLimited, check_text
from ._agents_session import AGENT_FIELDS, CREATE_ONLY_FIELDS, EmulatedSession
from ._agents_session_io import apply_input, input_messages, sse_frames
from ._wire import WireError

BASE = "/v1/agents"


Handler = Callable[[Request], Awaitable[Response]]


class AgentsEmulator:
    """The emulated Agents API: agents, sessions, fault switches and the Starlette app.

    :param api_key: requests must carry ``Authorization: Bearer <api_key>`` (401 otherwise).
    :param create_limit: agent creates allowed per ``create_period`` seconds (429 past it).
    :param publish_usage: whether ``turn.completed`` carries the turn's usage.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        create_limit: int = 60,
        create_period: float = 60.0,
        publish_usage: bool = True,
    ) -> None:
        self.api_key = api_key
        self.publish_usage = publish_usage
        self._counter = itertools.count(1)
        self.registry = AgentRegistry(self.ids, create_limit, create_period)
        #: The saved agents, by id.
        self.agents = self.registry.agents
        self.sessions: dict[str, EmulatedSession] = {}
        self.sessions_created = 0
        self.faults = Faults()
        self.kit = EmulatorKit(self._render_fault, faults=self.faults)
        self.requests = self.kit.requests
        self.streams = self.kit.streams
        self.base_url = ""
        one = f"{BASE}/sessions/{{sid}}"
        routes: list[tuple[str, str, Handler]] = [
            (BASE, "POST", self._create_agent),
            (BASE, "GET", self._list_agents),
            (f"{BASE}/sessions", "POST", self._create_session),
            (one, "GET", self._get_session),
            (one, "POST", self._update_session),
            (one, "DELETE", self._delete_session),
            (one + "/events", "GET", self._stream),
            (one + "/events", "POST", self._inputs),
            (one + "/items", "GET", self._items),
            (f"{BASE}/{{aid}}", "GET", self._get_agent),
            (f"{BASE}/{{aid}}", "DELETE", self._delete_agent),
        ]
        self.app = Starlette(
            routes=[
                Route(path, self._api(handler), methods=[method])
                for path, method, handler in routes
            ],
            middleware=[self.kit.middleware()],
        )

    @property
    def creates(self) -> dict[str, int]:
        """Creates that succeeded, by kind (``agent``, ``session``)."""
        return {"agent": self.registry.created, "session": self.sessions_created}

    @property
    def rate_limited(self) -> int:
        """Agent creates refused with 429."""
        return self.registry.rate_limited

    def ids(self, prefix: str) -> str:
        return f"{prefix}_emu{next(self._counter):06d}"

    def reset(self) -> None:
        """Forget recorded requests, pending faults and stream counters."""
        self.kit.reset()

    def forget_agent(self, agent_id: str) -> None:
        """Delete an agent behind the router's back (as another tool or person might)."""
        self.agents.pop(agent_id, None)

    async def close_streams(self) -> None:
        """End every open event stream (the server is stopping)."""
        for session in list(self.sessions.values()):
            await session.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _error(self, error: WireError, headers: Mapping[str, str] | None = None) -> Response:
        head = {"x-request-id": self.ids("req"), **(headers or {})}
        return JSONResponse(error.body(), status_code=error.status, headers=head)

    def _render_fault(self, status: int, message: str | None) -> Response:
        kind = "rate_limit_error" if status == 429 else "server_error"
        kind = kind if status == 429 or status >= 500 else "invalid_request_error"
        code = "rate_limit_exceeded" if status == 429 else None
        return self._error(
            WireError(message or f"emulated {status} error", status=status, type=kind, code=code)
        )

    def _api(self, handler: Handler) -> Handler:
        """``handler`` behind the API key check, what it raises rendered as the API's error
        (a 429 with its ``retry-after``)."""

        async def endpoint(request: Request) -> Response:
            if (denied := self._check(request)) is not None:
                return denied
            try:
                return await handler(request)
            except RateLimited as limited:
                return self._error(limited, {"retry-after": f"{limited.wait:.3f}"})
            except WireError as error:
                return self._error(error)

        return endpoint

    def _check(self, request: Request) -> Response | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return self._error(
            WireError("Incorrect API key provided.", status=401, code="invalid_api_key")
        )

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise WireError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise WireError("the request body must be a JSON object")
        return body

    def _json(self, value: Any, status: int = 200) -> Response:
        return JSONResponse(value, status_code=status, headers={"x-request-id": self.ids("req")})

    def _session(self, request: Request) -> EmulatedSession:
        session = self.sessions.get(request.path_params["sid"])
        if session is None:
            raise WireError("No session found with that id.", status=404, code="not_found")
        return session

    # --- agents --------------------------------------------------------------------------------

    async def _create_agent(self, request: Request) -> Response:
        return self._json(self.registry.create(await self._body(request)))

    async def _list_agents(self, request: Request) -> Response:
        after = request.query_params.get("after")
        return self._json(self.registry.page(after, int(request.query_params.get("limit") or 20)))

    async def _get_agent(self, request: Request) -> Response:
        return self._json(self.registry.get(request.path_params["aid"]))

    async def _delete_agent(self, request: Request) -> Response:
        return self._json(self.registry.delete(request.path_params["aid"]))

    # --- sessions ------------------------------------------------------------------------------

    async def _create_session(self, request: Request) -> Response:
        body = await self._body(request)
        if not isinstance(body.get("environment"), dict):
            raise WireError("Missing required parameter: 'environment'.", param="environment")
        agent = self._agent_config(body)
        spend = body.get("spend_control") or {}
        session = EmulatedSession(
            self.ids("sess"),
            agent,
            body["environment"],
            body.get("metadata") or {},
            spend.get("limit"),
            self.ids,
            publish_usage=self.publish_usage,
        )
        messages = input_messages(body.get("input"))
        self.sessions[session.id] = session
        self.sessions_created += 1
        if not body.get("stream"):
            if messages:
                session.start(messages)
            return self._json(session.view())
        response = self._subscribe(session)
        session.publish({"type": "agent.session.created", "session": session.view()})
        if messages:
            session.start(messages)
        return response

    def _agent_config(self, body: Mapping[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if body.get("agent_id"):
            saved = self.registry.get(str(body["agent_id"]))
            config = {k: saved.get(k) for k in (*AGENT_FIELDS, *CREATE_ONLY_FIELDS, "id", "name")}
        override = body.get("agent") or {}
        check_text(override.get("text"))
        config.update(
            {k: override[k] for k in (*AGENT_FIELDS, *CREATE_ONLY_FIELDS) if k in override}
        )
        if not config.get("model"):
            raise WireError("Either agent_id or agent.model is required.", param="agent")
        return config

    async def _get_session(self, request: Request) -> Response:
        return self._json(self._session(request).view())

    async def _update_session(self, request: Request) -> Response:
        session = self._session(request)
        body = await self._body(request)
        override = body.get("agent") or {}
        session.agent.update({k: override[k] for k in AGENT_FIELDS if k in override})
        if "metadata" in body:
            session.metadata = dict(body["metadata"] or {})
        if "spend_control" in body:
            session.spend_limit = (body["spend_control"] or {}).get("limit")
        return self._json(session.view())

    async def _delete_session(self, request: Request) -> Response:
        session = self._session(request)
        del self.sessions[session.id]
        await session.close()
        return self._json({"id": session.id, "object": "agent.session.deleted", "deleted": True})

    # --- events --------------------------------------------------------------------------------

    async def _stream(self, request: Request) -> Response:
        return self._subscribe(self._session(request))

    def _subscribe(self, session: EmulatedSession) -> Response:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        session.subscribers.add(queue)
        headers = {"x-request-id": self.ids("req"), "cache-control": "no-cache"}
        return self.kit.event_stream(sse_frames(session, queue), headers=headers)

    async def _items(self, request: Request) -> Response:
        session = self._session(request)
        items = list(session.items)
        if request.query_params.get("order", "desc") == "desc":
            items.reverse()
        after = request.query_params.get("after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query_params.get("limit") or 20)
        page = items[:limit]
        return self._json({"object": "list", "data": page, "has_more": len(items) > limit})

    async def _inputs(self, request: Request) -> Response:
        session = self._session(request)
        body = await self._body(request)
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise WireError("'events' must be a non-empty list.", param="events")
        for event in events:
            apply_input(session, event)
        return Response(status_code=202, headers={"x-request-id": self.ids("req")})


@contextmanager
def running_emulator(**options: Any) -> Iterator[AgentsEmulator]:
    """An :class:`AgentsEmulator` (``options`` go to its constructor) on a free loopback port
    for the duration of the block; its ``base_url`` ends in ``/v1``."""
    emulator = AgentsEmulator(**options)
    with LoopbackServer(
        emulator.app, name="openai-agents-emulator", before_stop=emulator.close_streams
    ) as server:
        emulator.base_url = f"{server.base_url}/v1"
        yield emulator


def serve(host: str, port: int) -> None:
    """Run the emulator until interrupted (``copass-router emulate openai-agents``).

    Set ``COPASS_ROUTER_OPENAI_EMULATOR_KEY`` to make it demand that API key.
    """
    emulator = AgentsEmulator(api_key=os.environ.get("COPASS_ROUTER_OPENAI_EMULATOR_KEY"))
    serve_emulator(emulator.app, host, port, banner=_banner)


def _banner(base_url: str) -> str:
    url = f"{base_url}/v1"
    return (
        f"OpenAI Agents API emulator on {url}\n"
        f"  export COPASS_ROUTER_OPENAI_AGENTS_BASE_URL={url} OPENAI_API_KEY=sk-emulator"
    )
