"""Who may open the console and what every action must carry: the admin key (never a tenant's
API key), a signed session cookie, a CSRF token and a same-origin request."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from copass_router import ConfigurationError, Router
from copass_router.server import create_app, serve, start_server

ADMIN = "console-admin-key-0123456789abcdef"
TENANT = "tenant-key-0123456789abcdef"


@pytest.fixture
async def console(make_router: Callable[..., Router]) -> AsyncIterator[str]:
    app = create_app(make_router(), api_keys=[f"acme:{TENANT}"], admin_key=ADMIN)
    server = await start_server(app)
    try:
        yield server.base_url
    finally:
        await server.aclose()
        await app.state.copass_console.board.aclose()


async def _login_form(http: httpx.AsyncClient) -> str:
    form = await http.get("/console/login")
    assert form.status_code == 200
    found = re.search(r'name="token" value="([^"]+)"', form.text)
    assert found is not None
    return found.group(1)


async def _signed_in(http: httpx.AsyncClient) -> str:
    """Sign ``http`` in; the CSRF token of its session."""
    token = await _login_form(http)
    answer = await http.post("/console/login", data={"token": token, "admin_key": ADMIN})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sessions"
    page = await http.get("/console/sessions")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _client(base: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=10)


async def test_without_an_admin_key_there_is_no_console(make_router: Callable[..., Router]) -> None:
    app = create_app(make_router(), api_keys=[f"acme:{TENANT}"])
    async with await start_server(app) as server, _client(server.base_url) as http:
        for path in (
            "/console",
            "/console/login",
            "/console/sessions",
            "/console/static/console.js",
        ):
            assert (await http.get(path)).status_code == 404, path


async def test_pages_need_the_admin_keys_session(console: str) -> None:
    async with _client(console, authorization=f"Bearer {TENANT}") as http:
        for path in ("/console", "/console/sessions", "/console/health", "/console/usage"):
            answer = await http.get(path, follow_redirects=True)
            assert answer.url.path == "/console/login", path
        for path in ("/console/runs.json", "/console/runs/r1/events"):
            assert (await http.get(path)).status_code == 401, path
        # A tenant's API key is not the admin key.
        token = await _login_form(http)
        refused = await http.post("/console/login", data={"token": token, "admin_key": TENANT})
        assert refused.status_code == 401 and "copass_console=" not in str(refused.headers)
    async with _client(console) as http:  # a forged session cookie
        http.cookies.set("copass_console", "9999999999.nonce.0000", path="/console")
        assert (await http.get("/console/sessions")).status_code == 303


async def test_another_admin_keys_session_is_refused(
    console: str, make_router: Callable[..., Router]
) -> None:
    other = create_app(make_router(), admin_key="another-admin-key-0123456789abcdef")
    async with await start_server(other) as server, _client(server.base_url) as http:
        token = await _login_form(http)
        await http.post(
            "/console/login",
            data={"token": token, "admin_key": "another-admin-key-0123456789abcdef"},
        )
        cookie = http.cookies.get("copass_console")
    await other.state.copass_console.board.aclose()
    async with _client(console) as http:
        http.cookies.set("copass_console", cookie or "", path="/console")
        assert (await http.get("/console/sessions")).status_code == 303


async def test_sign_in_refuses_other_origins_and_stale_forms(console: str) -> None:
    async with _client(console) as http:
        token = await _login_form(http)
        for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
            answer = await http.post(
                "/console/login", data={"token": token, "admin_key": ADMIN}, headers=headers
            )
            assert answer.status_code == 403, headers
        stale = await http.post("/console/login", data={"token": "x", "admin_key": ADMIN})
        assert stale.status_code == 403 and "stale" in stale.text
        assert "copass_console=" not in str(stale.headers)


async def test_every_action_needs_the_sessions_csrf_token(console: str) -> None:
    async with _client(console) as http:
        csrf = await _signed_in(http)
        for data, headers in (
            ({}, {}),
            ({"csrf": "forged"}, {}),
            ({"csrf": csrf}, {"origin": "http://evil.example"}),
            ({"csrf": csrf}, {"sec-fetch-site": "cross-site"}),
        ):
            for path in ("/console/runs/run_x/cancel", "/console/logout"):
                answer = await http.post(path, data=data, headers=headers)
                assert answer.status_code == 403, (path, data, headers)
        assert (await http.get("/console/sessions")).status_code == 200  # still signed in
        out = await http.post("/console/logout", data={"csrf": csrf})
        assert out.status_code == 303
        assert (await http.get("/console/sessions")).status_code == 303


async def test_pages_carry_a_content_security_policy_and_strict_cookies(console: str) -> None:
    async with _client(console) as http:
        form = await http.get("/console/login")
        assert "SameSite=strict" in form.headers["set-cookie"]
        await _signed_in(http)
        for path in ("/console/sessions", "/console/runs", "/console/usage", "/console/health"):
            page = await http.get(path)
            assert page.status_code == 200, path
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert page.headers["x-frame-options"] == "DENY"
            assert "<script>" not in page.text and " style=" not in page.text  # no inline code
        script = await http.get("/console/static/console.js")
        assert script.status_code == 200 and "textContent" in script.text
        assert "innerHTML" not in script.text


async def test_the_admin_key_is_checked_at_start(make_router: Callable[..., Router]) -> None:
    with pytest.raises(ConfigurationError, match="shorter than"):
        create_app(make_router(), admin_key="short")
    with pytest.raises(ConfigurationError, match="also one of the tenants' API keys"):
        create_app(make_router(), api_keys=[TENANT + "-and-more"], admin_key=TENANT + "-and-more")
    environ: dict[str, Any] = {"COPASS_ROUTER_ADMIN_KEY": "short"}
    assert serve(port=0, environ=environ) == 2
