"""Keyless mode (loopback, no API keys) cannot be driven by a web page.

Before the fix a cross-site ``text/plain`` POST to /v1/runs was accepted and ran tools, and with
a foreign ``Host`` (DNS rebinding) the transcripts of end user ``local`` were listed and read.
Proxy headers were believed from wherever uvicorn's environment said (``*`` included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from copass_router import RemoteRouter
from copass_router.serving._listener import uvicorn_config

from .conftest import Served, problem_of

RUN = b'{"provider": "echo", "message": "hi"}'


@pytest.fixture
async def keyless(serve_router: Callable[..., Awaitable[Served]]) -> Served:
    return await serve_router(api_keys=[])


async def test_a_local_program_is_answered(keyless: Served) -> None:
    async with keyless.http(None) as http:
        run = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        listed = await http.get("/v1/sessions")
        by_name = await http.get("/v1/sessions", headers={"Host": f"localhost:{keyless.port}"})
    assert run.status_code == 200 and "run_finished" in run.text
    assert listed.status_code == 200 and len(listed.json()["sessions"]) == 1
    assert by_name.status_code == 200


async def test_a_cross_site_form_post_is_refused(keyless: Served) -> None:
    async with keyless.http(None) as http:
        for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            response = await http.post("/v1/runs", content=RUN, headers={"Content-Type": media})
            assert response.status_code == 415, media
            assert problem_of(response)["code"] == "unsupported_media_type"
        no_type = await http.post("/v1/runs", content=RUN)
    assert no_type.status_code == 415
    assert await keyless.router.list_sessions() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example:8787"},  # DNS rebinding
        {"Host": "127.0.0.1.attacker.example"},
        {"Host": ""},
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
    ],
)
async def test_a_browser_or_proxied_request_is_refused(
    keyless: Served, headers: dict[str, str]
) -> None:
    async with keyless.http(None) as http:
        await http.post("/v1/runs", json={"provider": "echo", "message": "secret"})
        listed = await http.get("/v1/sessions", headers=headers)
        run = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "from a page"}, headers=headers
        )
    for response in (listed, run):
        assert response.status_code == 403, (headers, response.text)
        assert problem_of(response)["code"] == "forbidden"
    assert len(await keyless.router.list_sessions()) == 1  # only the local program's run


async def test_the_servers_own_origin_is_answered(keyless: Served) -> None:
    async with keyless.http(None) as http:
        origin = f"http://127.0.0.1:{keyless.port}"
        response = await http.get(
            "/v1/sessions", headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        )
    assert response.status_code == 200


def test_proxy_headers_are_believed_from_nobody_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own knob must not matter
    config = uvicorn_config(lambda *_: None)  # type: ignore[arg-type, return-value]
    assert config.proxy_headers is False
    trusting = uvicorn_config(lambda *_: None, trusted_proxies=["10.0.0.5"])  # type: ignore[arg-type, return-value]
    assert trusting.proxy_headers is True and trusting.forwarded_allow_ips == ["10.0.0.5"]


async def test_keyed_mode_is_not_affected(served: Served) -> None:
    async with served.http() as http:
        response = await http.post(
            "/v1/runs",
            json={"provider": "echo", "message": "hi"},
            headers={"Origin": "https://app.example", "X-Forwarded-For": "198.51.100.7"},
        )
    assert response.status_code == 200


async def test_the_python_client_works_keyless(keyless: Served) -> None:
    async with RemoteRouter(keyless.url, api_key=None) as remote:
        result = await remote.complete(provider="echo", message="hi")
        sessions = await remote.list_sessions("local")
    assert result.text == "echo: hi" and len(sessions) == 1
