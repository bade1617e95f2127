"""Shared fixtures: one emulator for the whole run (ADK imports are slow), routers per test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import copass_router_google
import pytest
import uvicorn
from copass_router_google.emulator import GoogleEmulator, running_emulator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from copass_router import DispatchAuthError, Event, InvalidRequestError, Router

PROJECT = "emulated-project"


class DispatchServer:
    """A running dispatch endpoint: ``.url``, ``.calls`` (bodies received), ``aclose()``."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.calls: list[dict[str, Any]] = []
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def _dispatch(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(body)
        try:
            result = await self.router.handle_dispatch(
                body.get("token", ""), body["tool_name"], body.get("arguments", {}), body["call_id"]
            )
        except DispatchAuthError as exc:
            status = 403 if exc.forbidden else 401
            return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=status)
        except InvalidRequestError as exc:
            return JSONResponse({"code": exc.code, "detail": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "call_id": result.call_id,
                "tool_name": result.name,
                "output": result.output,
                "is_error": result.is_error,
            }
        )

    async def start(self) -> DispatchServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/dispatch"
        app = Starlette(routes=[Route("/v1/dispatch", self._dispatch, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(2000):  # uvicorn offers no "started" event to wait on
            if self._server.started:
                break
            await asyncio.sleep(0.005)
        self.router.dispatch_url = self.url
        return self

    async def aclose(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


@pytest.fixture(scope="session")
def emulator() -> Iterator[GoogleEmulator]:
    """The Agent Engine emulator, shared by every test."""
    with running_emulator() as running:
        yield running


@pytest.fixture
def fresh_emulator(emulator: GoogleEmulator) -> GoogleEmulator:
    """The shared emulator with an empty request log and no pending faults."""
    emulator.reset()
    return emulator


def google_environ(emulator: GoogleEmulator) -> dict[str, str]:
    """What a router needs to reach the emulator."""
    return {
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulator.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "COPASS_ROUTER_GOOGLE_RETRY_DELAY": "0.01",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }


@pytest.fixture
async def google_router(
    make_router: Callable[..., Router], fresh_emulator: GoogleEmulator
) -> AsyncIterator[Router]:
    """A router with the google provider pointed at the emulator, its dispatch endpoint up."""
    router = make_router(plugins=[copass_router_google], environ=google_environ(fresh_emulator))
    server = await DispatchServer(router).start()
    router.dispatch_server = server  # type: ignore[attr-defined]
    yield router
    await server.aclose()


@pytest.fixture
def engine(google_router: Router, fresh_emulator: GoogleEmulator) -> str:
    """A deployed agent whose copass_dispatch calls ``google_router``'s dispatch endpoint."""
    assert google_router.dispatch_url
    return fresh_emulator.add_engine(
        display_name="support-agent",
        system_prompt="You are a support agent.",
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
    )


RunGoogle = Callable[..., Any]


@pytest.fixture
def run_google(google_router: Router, engine: str) -> RunGoogle:
    """``await run_google(message, **fields)``: one turn on ``engine``, its events as a list."""

    async def run(message: str, **extra: Any) -> list[Event]:
        fields: dict[str, Any] = {
            "provider": "google",
            "reasoning_engine_id": engine,
            "message": message,
            **extra,
        }
        return [e async for e in google_router.run(**fields)]

    return run
