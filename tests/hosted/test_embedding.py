"""The hosted app mounted inside a host's own Starlette app (embedding is a first-class use)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from copass_router import StopReason, ToolResult
from copass_router.client._remote_router import RemoteRouter
from copass_router.server import create_app, start_server

from .conftest import KEY_ALPHA, ToolCounter, make_router


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the host's own page")


async def test_mounted_under_a_prefix_with_the_hosts_routes_beside_it() -> None:
    counter = ToolCounter()
    router = make_router(counter)
    hosted = create_app(router, api_keys=[KEY_ALPHA])
    host = Starlette(routes=[Route("/", home), Mount("/agents", hosted)])
    server = await start_server(host)
    router.dispatch_url = server.base_url + "/agents/v1/dispatch"
    try:
        async with RemoteRouter(server.base_url + "/agents", KEY_ALPHA) as remote:
            result = await remote.complete(provider="echo", message='/tool lookup {"city": "Bonn"}')
            turns = await remote.transcript(result.session_id, "local")
    finally:
        await hosted.state.copass_router.drain(1)
        await server.aclose()
        await router.aclose()
    assert result.stop_reason is StopReason.END_TURN
    assert [e.output for e in result.events if isinstance(e, ToolResult)] == ["sunny in Bonn"]
    assert counter.calls == [{"city": "Bonn"}]
    assert turns[0].user == '/tool lookup {"city": "Bonn"}'
