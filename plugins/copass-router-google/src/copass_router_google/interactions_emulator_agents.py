"""The agents of the Interactions emulator: ``/v1beta/agents`` (create, get, list, delete).

An agent made here carries a base agent, a system instruction, built-in tools and an
``agent_config`` whose ``model`` its interactions run on; interactions name it as ``agent``
and must run in the background, as the service's agent interactions do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .interactions_emulator_wire import WireError, check_tools

BASE_AGENTS = ("antigravity-preview-05-2026",)
_PATH = "/{version}/agents"


class EmulatedAgents:
    """The agents one emulator holds, and its routes.

    :param denied: the emulator's key check (a response when the key is wrong).
    """

    def __init__(self, denied: Callable[[Request], Response | None]) -> None:
        self._denied = denied
        self._lock = threading.Lock()
        #: Every agent, by id.
        self.agents: dict[str, dict[str, Any]] = {}
        #: How many creates succeeded (to check the router creates each configuration once).
        self.created = 0

    def routes(self, version: str) -> list[Route]:
        """The agent routes under ``/{version}``."""
        path = _PATH.format(version=version)
        return [
            Route(path, self._create, methods=["POST"]),
            Route(path, self._list, methods=["GET"]),
            Route(path + "/{id}", self._get, methods=["GET"]),
            Route(path + "/{id}", self._delete, methods=["DELETE"]),
        ]

    def clear(self) -> None:
        """Forget every agent."""
        with self._lock:
            self.agents.clear()
            self.created = 0

    def runtime(self, name: str, body: Mapping[str, Any]) -> tuple[str, str | None, list[Any]]:
        """The model, system instruction and tools of an interaction on agent ``name``."""
        agent = self.agents.get(name)
        if agent is None:
            raise WireError(f"agent {name} not found", 404)
        if body.get("background") is not True:
            raise WireError("agent interactions must run in the background (background: true)")
        if body.get("model") or body.get("system_instruction"):
            raise WireError("an agent interaction takes neither model nor system_instruction")
        config = agent.get("agent_config") or {}
        model = str(config.get("model") or "gemini-2.5-flash")
        return model, agent.get("system_instruction"), list(agent.get("tools") or [])

    @staticmethod
    def _error(error: WireError) -> Response:
        return JSONResponse(error.body(), status_code=error.status)

    async def _create(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            body = json.loads(await request.body() or b"null")
            if not isinstance(body, dict) or not body.get("id"):
                raise WireError("an agent needs an id")
            if body.get("base_agent") not in BASE_AGENTS:
                raise WireError(f"unknown base_agent {body.get('base_agent')!r}")
            check_tools(body.get("tools"))
        except (WireError, json.JSONDecodeError) as error:
            message = error.message if isinstance(error, WireError) else "not JSON"
            return self._error(WireError(message, getattr(error, "status", 400)))
        with self._lock:
            if body["id"] in self.agents:
                return self._error(WireError(f"agent {body['id']} already exists", 409))
            self.agents[body["id"]] = body
            self.created += 1
        return JSONResponse(body)

    async def _list(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        return JSONResponse({"agents": list(self.agents.values())})

    async def _get(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        agent = self.agents.get(request.path_params["id"])
        if agent is None:
            return self._error(WireError("agent not found", 404))
        return JSONResponse(agent)

    async def _delete(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        with self._lock:
            gone = self.agents.pop(request.path_params["id"], None)
        if gone is None:
            return self._error(WireError("agent not found", 404))
        return JSONResponse({})
