"""Idle, trickling and surplus connections are closed, not held for ever.

uvicorn alone has no header or body read timeout and no connection cap, so sockets left idle,
trickling headers or trickling a dispatch body with no credentials would stay open. Each test
opens raw sockets and checks the server hangs up on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from copass_router import ConfigurationError
from copass_router.serving._connections import ConnectionLimits

from .conftest import KEY_ALPHA, Served

LIMITS = ConnectionLimits(
    max_connections=8, header_timeout=0.5, body_timeout=0.5, max_header_bytes=4096
)


async def _open(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


RESET = b"(reset)"


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent before it closed the connection (fails if it stays open).

    A server closing a socket that still holds unread bytes from the client makes the kernel
    send a reset, which may reach the client before the answer: that is a close too.
    """
    async with asyncio.timeout(seconds):
        try:
            return await reader.read()  # until EOF
        except ConnectionResetError:
            return RESET


async def _trickle(writer: asyncio.StreamWriter, data: bytes, pause: float) -> None:
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(pause)
    except ConnectionError:
        pass  # the server hung up: what the test waits for


async def test_an_idle_connection_is_closed(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=LIMITS)
    reader, writer = await _open(served)
    answer = await _closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_trickled_headers_are_cut_off(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=LIMITS)
    reader, writer = await _open(served)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: a\r\n" * 200 + b"\r\n"
    trickler = asyncio.create_task(_trickle(writer, request, 0.01))
    answer = await _closed_within(reader, 5)
    trickler.cancel()
    assert answer.startswith(b"HTTP/1.1 408") or answer == RESET
    writer.close()


async def test_a_trickled_dispatch_body_without_credentials_is_cut_off(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=LIMITS)
    reader, writer = await _open(served)
    body = b'{"token": "x", "tool_name": "t", "call_id": "c", "arguments": {}}' * 10
    head = (
        b"POST /v1/dispatch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    writer.write(head)
    trickler = asyncio.create_task(_trickle(writer, body, 0.01))
    answer = await _closed_within(reader, 5)
    trickler.cancel()
    assert answer.startswith(b"HTTP/1.1 408") or answer == RESET
    writer.close()


async def test_headers_over_the_size_cap_are_refused(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=LIMITS)
    reader, writer = await _open(served)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 10_000)
    answer = await _closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 431") or answer == RESET
    writer.close()


@pytest.mark.parametrize("pad", [5_000, 70_000, 120_000])
async def test_complete_headers_over_the_size_cap_in_one_write_are_refused(
    serve_router: Callable[..., Awaitable[Served]], pad: int
) -> None:
    # Headers that arrive whole, in one read, are measured too (not only trickled ones).
    limits = ConnectionLimits(max_header_bytes=4096) if pad < 10_000 else ConnectionLimits()
    served = await serve_router(limits=limits)
    reader, writer = await _open(served)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * pad + b"\r\n\r\n")
    answer = await _closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 431") or answer == RESET, answer[:200]
    writer.close()
    async with served.http(KEY_ALPHA) as http:  # the worker still answers
        assert (await http.get("/healthz")).status_code == 200


async def test_connections_over_the_cap_are_closed_and_the_rest_still_work(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    limits = ConnectionLimits(max_connections=4, header_timeout=30, body_timeout=30)
    served = await serve_router(limits=limits)
    held = [await _open(served) for _ in range(4)]
    extra_reader, extra_writer = await _open(served)
    # The oldest connection that has sent nothing makes room, closed unanswered.
    assert await _closed_within(held[0][0], 5) in (b"", RESET)
    extra_writer.close()
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.2)  # the server notices the closed ones
    async with served.http(KEY_ALPHA) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_a_normal_keep_alive_client_is_not_cut_off(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=LIMITS)
    async with served.http(KEY_ALPHA) as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.sleep(0.7)  # longer than the header timeout, between requests
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "/slow 0.3 a b"}
        )
        assert response.status_code == 200 and "run_finished" in response.text


def test_the_connection_cap_comes_from_the_environment() -> None:
    assert ConnectionLimits.from_environ({}) == ConnectionLimits()
    limits = ConnectionLimits.from_environ({"COPASS_ROUTER_MAX_CONNECTIONS": "4000"})
    assert limits.max_connections == 4000
    for bad in ("0", "-1", "many", "²"):
        with pytest.raises(ConfigurationError):
            ConnectionLimits.from_environ({"COPASS_ROUTER_MAX_CONNECTIONS": bad})


async def test_idle_sockets_cannot_starve_keyed_clients(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    # Fewer idle sockets than the cap would need for a lockout from one address, and more
    # than the cap in all: neither fills the worker.
    limits = ConnectionLimits(max_connections=40, header_timeout=30, body_timeout=30)
    served = await serve_router(limits=limits)
    held = [await _open(served) for _ in range(100)]
    try:
        async with asyncio.timeout(5), served.http(KEY_ALPHA) as http:
            health = await http.get("/healthz")
            run = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        assert health.status_code == 200
        assert run.status_code == 200 and "run_finished" in run.text
    finally:
        for _, writer in held:
            writer.close()


async def test_a_socket_that_sends_nothing_is_closed_within_the_idle_timeout(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve_router(limits=ConnectionLimits(header_timeout=30, idle_timeout=0.5))
    reader, writer = await _open(served)
    started = asyncio.get_running_loop().time()
    await _closed_within(reader, 5)
    assert asyncio.get_running_loop().time() - started < 2
    writer.close()


async def test_a_burst_of_requests_from_one_address_is_not_taken_for_idle_sockets(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    # A client behind one address (an application server, a NAT) opening many connections at
    # once: the worker accepts them all before it reads any, so none has sent a request yet
    # when the per-address cap of unproven connections is reached; their bytes are waiting.
    served = await serve_router(limits=ConnectionLimits())
    burst = 3 * ConnectionLimits().max_unproven_per_address
    pool = httpx.Limits(max_connections=burst, max_keepalive_connections=0)
    async with served.http(KEY_ALPHA, limits=pool) as http:
        answers = await asyncio.gather(
            *(http.get("/healthz") for _ in range(burst)), return_exceptions=True
        )
    failed = [a for a in answers if not isinstance(a, httpx.Response) or a.status_code != 200]
    assert failed == []


async def test_connections_whose_requests_have_begun_are_not_trimmed_as_idle(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    # More connections from one address than its cap of unproven ones, each with its request
    # begun: they are load the worker has yet to read, not idle sockets; only the header
    # timeout may end one that never finishes.
    served = await serve_router(limits=ConnectionLimits(header_timeout=30))
    count = 3 * ConnectionLimits().max_unproven_per_address
    opened = [await _open(served) for _ in range(count)]
    for _, writer in opened:
        writer.write(b"GET /healthz HTTP/1.1\r\n")
    await asyncio.sleep(1.0)  # past the grace after which an address's silent ones go
    for _, writer in opened:
        writer.write(b"host: router\r\n\r\n")
    try:
        async with asyncio.timeout(10):
            heads = [await reader.readuntil(b"\r\n") for reader, _ in opened]
    finally:
        for _, writer in opened:
            writer.close()
    assert heads == [b"HTTP/1.1 200 OK\r\n"] * count
