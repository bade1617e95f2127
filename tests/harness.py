"""The hosted router under test: a real uvicorn server on loopback, in the test's own loop.

The server runs as a task of the test's event loop (``start_server``, the same uvicorn settings
``serve`` uses), so a test can reach into the router behind it (live runs, a scripted backend's
counters, the store) while it talks to it over real HTTP. Each suite's conftest chooses the
router (which backends, which tools) and starts it with :func:`start_hosted_router`; reading the
answers (SSE frames, problem documents) is done with the helpers here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx

from copass_router import Router, event_from_json
from copass_router.client._remote_router import RemoteRouter
from copass_router.server import HostedState, RunningServer, create_app, start_server
from copass_router.serving._connections import ConnectionLimits

#: The API keys of the two tenants most hosted tests use (both are secret canaries).
KEY_ALPHA = "alpha-key-0123456789abcdef"
KEY_BETA = "beta-key-0123456789abcdef"
API_KEYS = [f"alpha:{KEY_ALPHA}", f"beta:{KEY_BETA}"]


@attrs.define
class HostedRouter:
    """A router served on 127.0.0.1. Suites subclass it to carry what ran behind it."""

    router: Router
    server: RunningServer
    state: HostedState

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def port(self) -> int:
        return self.server.port

    def http(self, key: str | None = KEY_ALPHA, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client on the server, authenticated with ``key`` (none when ``None``)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 10)
        return httpx.AsyncClient(base_url=self.url, headers=headers, **kwargs)

    def remote(self, key: str | None = KEY_ALPHA, **kwargs: Any) -> RemoteRouter:
        """A :class:`RemoteRouter` on the server."""
        return RemoteRouter(self.url, key, **kwargs)

    async def aclose(self) -> None:
        """Stop the server (draining live runs), then close the router."""
        await asyncio.wait_for(self.server.aclose(), 30)
        await self.router.aclose()


async def start_hosted_router(
    router: Router,
    *,
    grace: float = 0.5,
    limits: ConnectionLimits | None = None,
    **app_kwargs: Any,
) -> tuple[RunningServer, HostedState]:
    """Serve ``router`` on a free loopback port; its dispatch URL is set to the server's.

    ``grace`` is how long shutdown waits for live runs, ``limits`` the connection limits; other
    keywords go to ``create_app`` (by default the tenants ``alpha`` and ``beta``, a heartbeat
    every 0.5 s)."""
    app_kwargs.setdefault("api_keys", API_KEYS)
    app_kwargs.setdefault("heartbeat", 0.5)
    app = create_app(router, **app_kwargs)
    state: HostedState = app.state.copass_router
    server = await start_server(app, limits=limits, before_shutdown=lambda: state.drain(grace))
    router.dispatch_url = server.base_url + "/v1/dispatch"
    return server, state


# --- reading the answers -------------------------------------------------------------------------


def parse_frames(raw: str) -> list[dict[str, str]]:
    """Split an SSE body into frames (field -> value), comments under ``comment``."""
    frames = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        frame: dict[str, str] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            frame["comment" if field == "" else field] = value.removeprefix(" ")
        frames.append(frame)
    return frames


def sse_events(raw: str) -> list[dict[str, Any]]:
    """The ``data`` of every frame of an SSE body, as dicts."""
    return [json.loads(frame["data"]) for frame in parse_frames(raw) if "data" in frame]


def frame_events(raw: str) -> list[Any]:
    """The events of an SSE body."""
    return [event_from_json(frame["data"]) for frame in parse_frames(raw) if "data" in frame]


def stream_types(raw: str) -> list[str]:
    """The event types of an SSE body, in order."""
    return [event.type for event in frame_events(raw)]


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """A problem response's body, checking its media type and its members: ``status`` as sent,
    a ``code`` and a ``detail``."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == response.status_code
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (fails the test after ``seconds``)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the conditions live in other objects
            await asyncio.sleep(0.01)
