"""Oversized bodies are refused with 413 at the server's limit, whether or not they say their
length up front, and a refused body writes no session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from copass_router.server import create_app, start_server
from copass_router.serving._payloads import MAX_BODY_BYTES
from copass_router.testing import ScriptedBackend

from .conftest import KEY, TENANT, Served, ToolLog, make_router, problem_of

MESSAGE_LIMIT = 1_000_000  # requests.MAX_MESSAGE_CHARS


def body_of_size(size: int, path: str = "/v1/runs") -> bytes:
    """A well-formed JSON body of exactly ``size`` bytes for ``path``."""
    head = (
        b'{"provider": "echo", "message": "'
        if path == "/v1/runs"
        else b'{"token": "cpt1.a.b", "tool_name": "lookup", "call_id": "c", "pad": "'
    )
    tail = b'"}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    return body


async def _chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def post_sized(
    http: httpx.AsyncClient, size: int, chunked: bool, path: str = "/v1/runs"
) -> httpx.Response:
    """POST a ``size``-byte body, with a Content-Length or chunked (length unknown)."""
    body = body_of_size(size, path)
    content = _chunks(body) if chunked else body
    return await http.post(path, content=content, headers={"content-type": "application/json"})


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    size=st.integers(MAX_BODY_BYTES - 16, MAX_BODY_BYTES + 16) | st.just(MAX_BODY_BYTES + 1),
    chunked=st.booleans(),
    path=st.sampled_from(["/v1/runs", "/v1/dispatch"]),
)
async def test_a_body_over_the_limit_is_413_and_writes_nothing(
    served: Served, size: int, chunked: bool, path: str
) -> None:
    before = await served.sessions()
    async with served.http() as http:
        response = await post_sized(http, size, chunked, path)
    problem = problem_of(response)
    if path == "/v1/dispatch":
        # The bearer credential (an API key, not a run token) is refused before the body is read.
        assert response.status_code == 401
    elif size > MAX_BODY_BYTES:
        assert response.status_code == 413
        assert problem["code"] == "payload_too_large"
    else:
        # Within the body limit, the message is still over the message limit: 413 too.
        assert (response.status_code, problem["field"]) == (413, "message")
    assert await served.sessions() == before
    assert served.tools.calls == []


async def test_a_message_at_the_message_limit_runs(served: Served) -> None:
    async with served.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "z" * MESSAGE_LIMIT}
        )
    assert response.status_code == 200
    assert response.text.rstrip().endswith("}") and "run_finished" in response.text[-400:]


async def test_a_message_over_the_message_limit_is_413_naming_it(served: Served) -> None:
    async with served.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "z" * (MESSAGE_LIMIT + 1)}
        )
    assert response.status_code == 413
    assert problem_of(response)["field"] == "message"


async def test_the_body_limit_is_configurable() -> None:
    router = make_router(ToolLog(), ScriptedBackend())
    app = create_app(router, api_keys=[f"{TENANT}:{KEY}"], max_body_bytes=4096)
    server = await start_server(app)
    try:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            over = await post_sized(http, 4097, chunked=False)
            under = await post_sized(http, 4096, chunked=False)
        assert over.status_code == 413
        assert under.status_code == 200
    finally:
        await server.aclose()
        await router.aclose()
