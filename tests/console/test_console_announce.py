"""Every worker of a console-enabled server announces itself from its first request, whatever
that request is: a worker that has served no console page still shows its runs to the console
on the other workers."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from copass_router import Router
from copass_router.server import create_app
from copass_router.server.console.board import board_redis

from ..services import redis_url  # noqa: F401
from .conftest import ADMIN_KEY


async def test_a_worker_announces_itself_before_any_console_page(
    redis_url: str,  # noqa: F811
) -> None:
    environ = {"COPASS_ROUTER_COORDINATOR": redis_url}
    router = Router(store=":memory:", load_entry_points=False, environ=environ)
    app = create_app(router, api_keys=["announce-key-0123456789abcdef"], admin_key=ADMIN_KEY)
    board = app.state.copass_console.board
    url, prefix = board_redis(environ)
    assert url is not None
    redis = Redis.from_url(url)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/healthz")).status_code == 200
        async with asyncio.timeout(10):
            while await redis.zscore(f"{prefix}console:workers", board.worker_id) is None:  # noqa: ASYNC110 - the condition lives in Redis
                await asyncio.sleep(0.05)
    finally:
        await board.aclose()
        await redis.aclose()
        await router.aclose()
