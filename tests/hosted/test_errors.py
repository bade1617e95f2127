"""Errors before a stream starts: JSON problems with the right status, typed errors remotely."""

from __future__ import annotations

import pytest

from copass_router import (
    InvalidRequestError,
    SessionBusyError,
    SessionNotFoundError,
    TextDelta,
    UnknownProviderError,
)
from copass_router.client._remote_router import RemoteRouterError

from .conftest import KEY_ALPHA, Hosted, problem_of, wait_until


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "echo", "message": ""}, "message"),
        ({"provider": "echo"}, "message"),
        ({"provider": "echo", "message": "hi", "end_user_id": "bad id!"}, "end_user_id"),
        ({"provider": "echo", "message": "hi", "max_tool_rounds": "many"}, "max_tool_rounds"),
        ({"provider": "echo", "message": "hi", "colour": "blue"}, "colour"),
        ({"provider": "echo", "message": "hi", "tools": ["lookup"]}, "tools"),
        ({"provider": "echo", "message": "hi", "metadata": {"n": 1}}, "metadata"),
    ],
)
async def test_invalid_requests_are_400_naming_the_field(
    hosted: Hosted, body: dict[str, object], field: str
) -> None:
    async with hosted.http() as http:
        response = await http.post("/v1/runs", json=body)
    assert response.status_code == 400
    problem = problem_of(response)
    assert problem["code"] == "invalid_request"
    assert problem["field"] == field
    assert hosted.router.store  # nothing ran: no session was created
    assert await hosted.router.list_sessions() == []


async def test_body_that_is_not_a_json_object_is_400(hosted: Hosted) -> None:
    async with hosted.http() as http:
        not_json = await http.post("/v1/runs", content=b"{nope")
        a_list = await http.post("/v1/runs", json=["echo"])
    for response in (not_json, a_list):
        assert response.status_code == 400
        assert problem_of(response)["code"] == "invalid_request"


async def test_remote_raises_invalid_request_with_the_field(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        with pytest.raises(InvalidRequestError) as local_check:
            remote.run(provider="echo", message="   ")
        with pytest.raises(InvalidRequestError) as tools:
            remote.run(provider="echo", message="hi", tools=[lambda: None])
        with pytest.raises(InvalidRequestError) as server_check:
            await remote.complete(provider="echo", message="hi", location="europe-west4")
    assert local_check.value.field == "message"
    assert tools.value.field == "tools"
    # The echo backend does not use a location: the server's validation comes back typed.
    assert server_check.value.field == "location"


async def test_unknown_provider_is_422_listing_the_installed(hosted: Hosted) -> None:
    async with hosted.http() as http:
        response = await http.post("/v1/runs", json={"provider": "nope", "message": "hi"})
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["code"] == "unknown_provider"
    assert problem["installed"] == ["deployed", "echo", "scripted"]
    assert "copass-router-nope" not in problem["detail"]
    assert "No known plugin provides 'nope'" in problem["detail"]
    async with hosted.remote() as remote:
        with pytest.raises(UnknownProviderError) as caught:
            await remote.complete(provider="nope", message="hi")
    assert caught.value.installed == ["deployed", "echo", "scripted"]
    assert caught.value.field == "provider"


async def test_missing_or_wrong_api_key_is_401(hosted: Hosted) -> None:
    async with hosted.http(key=None) as http:
        missing = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        wrong = await http.get(
            "/v1/providers", headers={"Authorization": "Bearer not-a-key-of-this-router"}
        )
        basic = await http.get("/v1/providers", headers={"Authorization": f"Basic {KEY_ALPHA}"})
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert problem_of(response)["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert KEY_ALPHA not in response.text
    async with hosted.remote(key="not-a-key-of-this-router") as remote:
        with pytest.raises(RemoteRouterError) as caught:
            await remote.complete(provider="echo", message="hi")
        with pytest.raises(RemoteRouterError):
            await remote.providers()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert await hosted.router.list_sessions() == []


async def test_unknown_session_is_404(hosted: Hosted) -> None:
    async with hosted.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "hi", "session_id": "ses_missing"}
        )
        transcript = await http.get("/v1/sessions/ses_missing")
        deleted = await http.delete("/v1/sessions/ses_missing")
    for r in (response, transcript, deleted):
        assert r.status_code == 404
        assert problem_of(r)["code"] == "session_not_found"
    async with hosted.remote() as remote:
        with pytest.raises(SessionNotFoundError) as caught:
            await remote.complete(provider="echo", message="hi", session_id="ses_missing")
        with pytest.raises(SessionNotFoundError):
            await remote.transcript("ses_missing", "local")
    assert caught.value.session_id == "ses_missing"


async def test_busy_session_is_409(hosted: Hosted) -> None:
    hosted.scripted.enqueue(TextDelta(text="working"), hang=True)
    async with hosted.remote() as remote:
        first = remote.run(provider="scripted", message="go", end_user_id="u-1")
        started = await first.__anext__()
        session_id = started.session_id
        async with hosted.http() as http:
            response = await http.post(
                "/v1/runs",
                json={
                    "provider": "echo",
                    "message": "hi",
                    "session_id": session_id,
                    "end_user_id": "u-1",
                },
            )
            deleting = await http.delete(f"/v1/sessions/{session_id}?end_user_id=u-1")
        with pytest.raises(SessionBusyError) as caught:
            await remote.complete(
                provider="echo", message="hi", session_id=session_id, end_user_id="u-1"
            )
        await first.aclose()
    assert response.status_code == 409
    problem = problem_of(response)
    assert (problem["code"], problem["session_id"], problem["retryable"]) == (
        "session_busy",
        session_id,
        True,
    )
    assert deleting.status_code == 409
    assert caught.value.session_id == session_id
    await wait_until(lambda: hosted.scripted.cancelled == 1)


async def test_unknown_routes_and_methods_are_problems(hosted: Hosted) -> None:
    async with hosted.http() as http:
        missing = await http.get("/v1/nothing")
        method = await http.get("/v1/runs")
    assert missing.status_code == 404 and problem_of(missing)["code"] == "not_found"
    assert method.status_code == 405 and problem_of(method)["code"] == "method_not_allowed"


async def test_health_and_readiness_need_no_key(hosted: Hosted) -> None:
    async with hosted.http(key=None) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


async def test_providers_lists_what_the_server_has(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        providers = await remote.providers()
    assert [p.name for p in providers] == ["deployed", "echo", "scripted"]
    assert next(p for p in providers if p.name == "echo").description


async def test_oversized_body_is_413(hosted: Hosted) -> None:
    async with hosted.http() as http:
        response = await http.post(
            "/v1/runs", content=b'{"message": "' + b"x" * (9 * 1024 * 1024) + b'"}'
        )
    assert response.status_code == 413
    assert problem_of(response)["code"] == "payload_too_large"


async def test_a_hosted_request_cannot_steer_the_router_to_another_url(hosted: Hosted) -> None:
    async with hosted.http() as http:
        for key in ("base_url", "BASE_URL", "proxy_host", "endpoint_url"):
            body = {
                "provider": "echo",
                "message": "hi",
                "options": {key: "http://169.254.169.254/"},
            }
            response = await http.post("/v1/runs", json=body)
            assert response.status_code == 400
            problem = problem_of(response)
            assert problem["field"] == f"options.{key}"
            assert "operator configures provider URLs" in problem["detail"]
    assert await hosted.router.list_sessions() == []
