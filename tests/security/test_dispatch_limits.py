"""``/v1/dispatch`` checks its token before it reads a body, applies the body limit, and a retry
racing its run's end gets a problem.

Before the fix the endpoint parsed the whole body (7.6 MiB tried) before looking at the token,
ignored ``max_body_bytes`` (8 MiB accepted with ``max_body_bytes=1000``), and a retried call
waiting on the first attempt when the run ended got a bare text/plain 500.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from copass_router import tool
from copass_router.serving._dispatch_endpoint import UNVERIFIED_BODY_BYTES

from .conftest import Served, problem_of, wait_until


@tool
async def slow_lookup(city: str) -> str:
    """Look something up, slowly."""
    await asyncio.sleep(30)
    return city


@pytest.fixture
async def live(
    serve_router: Callable[..., Awaitable[Served]],
) -> AsyncIterator[tuple[Served, str, asyncio.Task[Any]]]:
    """A hosted router (dispatch bodies up to 1000 bytes) with one run held open: the served
    router, the run's dispatch token, and the task streaming the run (cancel it to end it)."""
    served = await serve_router(router_kwargs={"tools": [slow_lookup]}, max_body_bytes=1000)
    served.scripted.enqueue(hang=True)

    async def stream() -> None:
        async with served.http() as http:
            # "cancel": leaving ends the run (by default a run outlives its connection).
            body = {"provider": "scripted", "message": "hold", "on_disconnect": "cancel"}
            async with http.stream("POST", "/v1/runs", json=body) as response:
                async for _ in response.aiter_bytes():
                    pass

    task = asyncio.create_task(stream())
    await wait_until(lambda: bool(served.scripted.turns))
    yield served, served.scripted.turns[-1].dispatch_token, task
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _call(call_id: str = "c-1", **extra: Any) -> dict[str, Any]:
    return {"tool_name": "slow_lookup", "arguments": {"city": "Rome"}, "call_id": call_id, **extra}


async def test_a_forged_token_is_refused_before_the_body_is_read(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(
        b"POST /v1/dispatch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer forged.token\r\nContent-Length: 100000000\r\n\r\n"
    )
    await writer.drain()
    async with asyncio.timeout(5):  # answered although not one body byte was sent
        status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 401")


async def test_the_body_limit_applies_to_dispatch(
    live: tuple[Served, str, asyncio.Task[Any]],
) -> None:
    served, token, _ = live
    padded = _call(padding="x" * 2000)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        with_header = await http.post(
            "/v1/dispatch", json=padded, headers={"Authorization": f"Bearer {token}"}
        )
        in_body = await http.post("/v1/dispatch", json={**padded, "token": token})
    for response in (with_header, in_body):
        assert response.status_code == 413
        assert problem_of(response)["code"] == "payload_too_large"


async def test_a_token_only_in_the_body_allows_a_small_body_only(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router()
    body = {"token": "not.checked.yet", **_call(padding="x" * (UNVERIFIED_BODY_BYTES + 10))}
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        response = await http.post("/v1/dispatch", json=body)
    assert response.status_code == 413


async def test_a_retry_racing_the_runs_end_gets_a_problem_not_a_500(
    live: tuple[Served, str, asyncio.Task[Any]],
) -> None:
    served, token, stream = live
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=10) as http:
        first = asyncio.create_task(http.post("/v1/dispatch", json=_call("same")))
        await asyncio.sleep(0.3)  # the tool is running
        retry = asyncio.create_task(http.post("/v1/dispatch", json=_call("same")))
        await asyncio.sleep(0.3)  # the retry waits on the first attempt
        stream.cancel()  # the client leaves: the run ends, its tools are cancelled
        responses = await asyncio.gather(first, retry)
    for response in responses:
        assert response.status_code == 403, response.text
        assert problem_of(response)["code"] == "dispatch_unauthorized"
