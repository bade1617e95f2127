"""No input gives a 500, and what callers see is neutral.

Inputs checked: ``GET /v1/sessions?end_user_id=%00`` (also CR/LF, ``%ff``, 300 characters),
``limit=²``, ``limit=①`` and a 5,000-digit limit get a 4xx problem. Error events carry no
internal exception names or text (``ValueError: ...``) and no internal URLs, and a missing
``OPENAI_API_KEY`` is a 503 that does not name the variable. The detail belongs in the operator's log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import copass_router_openai
import httpx
import pytest

from copass_router import Error, RunFinished
from copass_router._trace_context import trace_headers
from copass_router.server import create_app
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from .conftest import Served, make_router, problem_of, sse_events

BAD_END_USERS = ["%00", "a%0d%0ab", "%0a", "%ff", "%c3%28", "x" * 300, "%20", "a/b"]
BAD_LIMITS = ["²", "①", "٣", "9" * 5000, "-1", "0", "501", "", "1.5", "1e2", " 5"]


@pytest.mark.parametrize("end_user", BAD_END_USERS)
async def test_a_bad_end_user_in_a_query_is_a_400(served: Served, end_user: str) -> None:
    async with served.http() as http:
        listed = await http.get(f"/v1/sessions?end_user_id={end_user}")
        shown = await http.get(f"/v1/sessions/ses_x?end_user_id={end_user}")
        deleted = await http.delete(f"/v1/sessions/ses_x?end_user_id={end_user}")
    for response in (listed, shown, deleted):
        assert response.status_code == 400, (end_user, response.status_code, response.text)
        assert problem_of(response)["code"] == "invalid_request"


@pytest.mark.parametrize("limit", BAD_LIMITS)
async def test_a_bad_limit_is_a_400(served: Served, limit: str) -> None:
    async with served.http() as http:
        response = await http.get("/v1/sessions", params={"limit": limit})
    assert response.status_code == 400, (limit, response.text)
    assert problem_of(response)["field"] == "limit"


async def test_good_limits_still_work(served: Served) -> None:
    async with served.http() as http:
        for limit in ("1", "500", "007"):
            assert (await http.get("/v1/sessions", params={"limit": limit})).status_code == 200


async def test_a_missing_provider_key_is_a_neutral_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    router = make_router(copass_router_openai)  # no OPENAI_API_KEY in its environment
    app = create_app(router, api_keys=[])
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.post("/v1/runs", json={"provider": "openai", "message": "hi"})
    await router.aclose()
    assert response.status_code == 503
    problem = problem_of(response)
    assert problem["code"] == "configuration_error"
    assert "OPENAI_API_KEY" not in response.text and "operator" in problem["detail"]
    assert "OPENAI_API_KEY" in caplog.text  # the operator learns what is missing


async def test_an_unexpected_backend_failure_is_neutral_in_the_event_and_detailed_in_the_log(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    served.scripted.enqueue(raises=ValueError("bad row at http://10.0.0.7:5432/internal"))
    async with served.http() as http:
        response = await http.post("/v1/runs", json={"provider": "scripted", "message": "hi"})
    events = sse_events(response.text)
    error = next(e for e in events if e["type"] == "error")
    assert error["code"] == "internal_error"
    assert "ValueError" not in response.text and "10.0.0.7" not in response.text
    assert events[-1]["type"] == "run_finished"
    assert "ValueError" in caplog.text and "10.0.0.7" in caplog.text


async def test_a_wrongly_typed_field_names_no_internals(served: Served) -> None:
    async with served.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "hi", "options": ["not", "a", "map"]}
        )
    assert response.status_code == 400
    assert "__init__" not in response.text and "Traceback" not in response.text


async def test_the_in_process_error_event_is_neutral_too() -> None:
    scripted = ScriptedBackend()
    scripted.enqueue(raises=KeyError("secret internals"))
    async with make_router(ScriptedPlugin(scripted=scripted)) as router:
        events = [e async for e in router.run(provider="scripted", message="hi")]
    (error,) = [e for e in events if isinstance(e, Error)]
    assert "KeyError" not in error.message and "secret internals" not in error.message
    assert isinstance(events[-1], RunFinished)


BAD_AFTER = ["9" * 5000, "²", "①", "٣", "-1", "1.5", "run_x:²"]


@pytest.mark.parametrize("after", BAD_AFTER)
async def test_a_bad_resume_position_is_a_400(served: Served, after: str) -> None:
    async with served.http() as http:
        run = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
        run_id = run.headers["x-copass-run-id"]
        by_header = await http.get(
            f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": after.encode()}
        )
        by_query = await http.get(f"/v1/runs/{run_id}/events", params={"after": after})
    for response in (by_header, by_query):
        assert response.status_code == 400, (after, response.status_code, response.text)
        assert problem_of(response)["code"] == "invalid_request"


async def test_an_oversized_traceparent_is_not_copied_anywhere(served: Served) -> None:
    # A later trace-context version may add fields, but not 60 KB of them.
    huge = "01-" + "a" * 32 + "-" + "b" * 16 + "-01-" + "c" * 60_000
    async with served.http() as http:
        response = await http.post(
            "/v1/runs",
            json={"provider": "echo", "message": "hi"},
            headers={"traceparent": huge, "tracestate": "k=v"},
        )
    assert response.status_code == 200
    assert "c" * 1000 not in response.text
    # The one reader of trace headers, for runs and dispatch callbacks alike, drops it.
    assert trace_headers({"traceparent": huge, "tracestate": "k=v"}) == {}
    assert trace_headers({"traceparent": huge[:200]})  # a longer later version still passes


async def test_a_nul_end_user_in_a_usage_query_is_a_400_on_the_postgresql_ledger(
    serve_router: Callable[..., Awaitable[Served]],
) -> None:
    """PostgreSQL refuses NUL in text: the query is refused before it reaches the ledger."""
    from ..services import fresh_schema

    async with fresh_schema() as url:
        served = await serve_router(router_kwargs={"store": url})
        async with served.http() as http:
            ran = await http.post(
                "/v1/runs", json={"provider": "echo", "message": "hi", "end_user_id": "ana"}
            )
            good = await http.get("/v1/usage?end_user_id=ana")
            bad = await http.get("/v1/usage?end_user_id=%00")
        await served.router.aclose()
    assert ran.status_code == 200, ran.text
    assert [row["calls"] for row in good.json()["usage"]] == [1]
    assert bad.status_code == 400, bad.text
    assert problem_of(bad)["field"] == "end_user_id"


@pytest.mark.parametrize("end_user", BAD_END_USERS)
async def test_a_bad_end_user_in_a_usage_query_is_a_400(served: Served, end_user: str) -> None:
    async with served.http() as http:
        response = await http.get(f"/v1/usage?end_user_id={end_user}")
    assert response.status_code == 400, (end_user, response.status_code, response.text)
    assert problem_of(response)["field"] == "end_user_id"


@pytest.mark.parametrize(
    "field", [{"model": "echo-1\u0000"}, {"message": "hi\u0000"}, {"system": "a\u0000b"}]
)
async def test_a_nul_in_request_text_is_refused_before_anything_runs(
    served: Served, field: dict[str, str]
) -> None:
    # A NUL cannot be stored in PostgreSQL text: the ledger write of such a run failed after
    # its model call, so the call went unmetered.
    async with served.http() as http:
        response = await http.post("/v1/runs", json={"provider": "echo", "message": "hi", **field})
    assert response.status_code == 400, response.text
    assert problem_of(response)["field"] == next(iter(field))
