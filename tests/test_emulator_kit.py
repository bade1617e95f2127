"""The emulator kit, on a small emulator of a made-up provider driven over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from copass_router.testing import EmulatorKit, Faults, LoopbackServer

KEY = "sk-acme-0123456789abcdef"


class Acme:
    """A made-up provider: ``POST /v1/chat`` answers JSON, ``GET /v1/stream`` streams 5 events."""

    def __init__(self) -> None:
        self.kit = EmulatorKit(self.error)
        self.closed_streams = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat", self.chat, methods=["POST"]),
                Route("/v1/stream", self.stream, methods=["GET"]),
            ],
            middleware=[self.kit.middleware()],
        )

    @staticmethod
    def error(status: int, message: str | None) -> Response:
        body = {"failure": {"status": status, "text": message or "acme is unwell"}}
        return JSONResponse(body, status_code=status)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"reply": f"echo: {body['text']}"})

    async def stream(self, request: Request) -> Response:
        delay = float(request.query_params.get("delay", "0"))
        return self.kit.event_stream(self._events(delay))

    async def _events(self, delay: float) -> AsyncIterator[bytes]:
        try:
            for n in range(5):
                if delay:
                    await asyncio.sleep(delay)
                yield f"data: {json.dumps({'n': n})}\n\n".encode()
            yield b"data: [END]\n\n"
        finally:
            self.closed_streams += 1


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Acme, str]]:
    acme = Acme()
    with LoopbackServer(acme.app, name="acme-emulator") as server:
        yield acme, server.base_url


@pytest.fixture
def acme(served: tuple[Acme, str]) -> Iterator[Acme]:
    served[0].kit.reset()
    served[0].closed_streams = 0
    yield served[0]


@pytest.fixture
async def http(served: tuple[Acme, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served[1], timeout=10) as client:
        yield client


async def chat(http: httpx.AsyncClient, text: str = "hi") -> httpx.Response:
    return await http.post("/v1/chat?x=1&x=2", json={"text": text}, headers={"x-api-key": KEY})


async def frames(http: httpx.AsyncClient, **params: str) -> list[str]:
    got = []
    async with http.stream("GET", "/v1/stream", params=params) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                got.append(line.removeprefix("data: "))
    return got


async def test_the_log_holds_each_request_without_its_secrets(
    acme: Acme, http: httpx.AsyncClient
) -> None:
    answer = await chat(http, "logged")
    assert answer.json() == {"reply": "echo: logged"}  # the app still reads the body
    (request,) = acme.kit.requests
    assert (request.method, request.path) == ("POST", "/v1/chat")
    assert request.query == (("x", "1"), ("x", "2")) and request.param("x") == "1"
    assert request.body == {"text": "logged"}
    assert request.sent("x-api-key", KEY) and not request.sent("x-api-key", KEY + "0")
    assert KEY not in repr(request) and "0123" not in request.headers["x-api-key"]
    assert acme.kit.requests.matching("/v1/*", method="post") == [request]
    assert acme.kit.requests.matching("/v2/*") == []


async def test_fail_next_answers_n_matching_requests_with_the_providers_error(
    acme: Acme, http: httpx.AsyncClient
) -> None:
    acme.kit.faults.fail_next(429, count=2, path="/v1/chat", retry_after=1.5)
    acme.kit.faults.fail_next(503, method="GET", message="down for a bit")
    for _ in range(2):
        refused = await chat(http)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1.5"
        assert refused.json() == {"failure": {"status": 429, "text": "acme is unwell"}}
    assert (await chat(http)).status_code == 200  # spent
    async with http.stream("GET", "/v1/stream") as response:
        assert response.status_code == 503 and "retry-after" not in response.headers
        assert json.loads(await response.aread())["failure"]["text"] == "down for a bit"
    assert len(acme.kit.requests) == 4  # failed requests are logged too
    assert acme.kit.faults.pending == 0


async def test_a_hang_holds_the_next_request_past_the_clients_patience(
    acme: Acme, http: httpx.AsyncClient
) -> None:
    acme.kit.faults.hang(30, path="/v1/chat")
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v1/chat", json={"text": "x"}, timeout=0.3)
    assert (await chat(http)).status_code == 200  # only the next one


@pytest.mark.parametrize("mode", ["drop", "eof"])
async def test_a_cut_ends_the_next_stream_after_k_events(
    acme: Acme, http: httpx.AsyncClient, mode: str
) -> None:
    acme.kit.faults.cut_stream(after_events=2, mode=mode)  # type: ignore[arg-type]
    if mode == "drop":
        with pytest.raises(httpx.RemoteProtocolError):
            await frames(http)
    else:
        assert await frames(http) == ['{"n": 0}', '{"n": 1}']  # no [END]
    assert acme.closed_streams == 1  # what produced the events was closed
    assert (await frames(http))[-1] == "[END]"  # the next stream is whole
    streams = acme.kit.streams
    assert (streams.opened, streams.cut, streams.completed) == (2, 1, 1)


async def test_a_stream_the_client_leaves_counts_as_abandoned(
    acme: Acme, http: httpx.AsyncClient
) -> None:
    async with http.stream("GET", "/v1/stream", params={"delay": "0.05"}) as response:
        async for _ in response.aiter_lines():
            break
    for _ in range(200):
        if acme.kit.streams.abandoned:
            break
        await asyncio.sleep(0.01)
    assert acme.kit.streams.abandoned == 1 and acme.kit.streams.completed == 0
    assert acme.closed_streams == 1


def test_faults_refuse_what_cannot_happen() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="status"):
        faults.fail_next(200)
    with pytest.raises(ValueError, match="count"):
        faults.fail_next(500, count=0)
    with pytest.raises(ValueError, match="mode"):
        faults.cut_stream(mode="later")  # type: ignore[arg-type]
    assert faults.pending == 0


def test_the_loopback_server_stops_cleanly() -> None:
    server = LoopbackServer(Acme().app).start()
    host, port = "127.0.0.1", server.port
    assert httpx.post(f"{server.base_url}/v1/chat", json={"text": "a"}).status_code == 200
    server.stop()
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=1):
        pass
