"""Any JSON body sent to ``POST /v1/runs`` gets a finished stream or a 4xx problem, nothing else.

Each example is checked end to end against a real server: the status is never 5xx, no body
carries a traceback, a refused request leaves every session as it was, and an accepted one
adds exactly one turn, recorded as finished and readable over HTTP by its end user.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from copass_router import InvalidRequestError, Router

from .conftest import (
    JSON_VALUES,
    KEY,
    LONE_SURROGATES,
    Served,
    assert_no_traceback,
    json_bytes,
    json_texts,
    nested,
    nested_json,
    problem_of,
    stream_types,
    texts,
)

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# Messages that finish quickly on echo (no /slow or /long with a generated count).
COMMANDS = [
    "hi",
    "hello there, router",
    '/tool lookup {"city": "Oslo"}',
    '/tool lookup {"city": 5}',
    '/tool measure {"n": 3, "unit": "km"}',
    "/tools ping {} ; lookup {}",
    "/tool nothing {}",
    "/loop ping {}",
    "/think deep thoughts",
    "/error overloaded busy",
    "/refuse",
    "/max_tokens",
    "/recall",
]
HUGE = st.integers(min_value=200_000, max_value=1_200_000).map(lambda n: "y" * n)
MESSAGES = st.one_of(
    st.sampled_from(COMMANDS),
    texts(max_size=200).filter(lambda s: not s.lstrip().startswith("/")),
    LONE_SURROGATES,
    st.sampled_from(["", "   ", "\n\t"]),
    HUGE,
    JSON_VALUES,
)


def _maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value of a field, or any JSON value at all."""
    return st.one_of(good, JSON_VALUES)


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": _maybe(st.none() | st.sampled_from(["echo-1", "other"]) | json_texts() | HUGE),
    "system": _maybe(st.none() | json_texts(max_size=100) | HUGE),
    "end_user_id": _maybe(
        st.sampled_from(["u1", "user-2@x.io", "a" * 120, "a" * 121, "bad id", "", "-x"])
        | texts(max_size=140)
    ),
    "session_id": _maybe(st.none() | st.sampled_from(["ses_missing", "5"]) | texts()),
    "reasoning_engine_id": _maybe(st.none() | texts(max_size=20)),
    "location": _maybe(st.none() | st.just("europe-west4")),
    "tools": _maybe(st.none() | st.just([]) | st.just(["lookup"])),
    "max_tool_rounds": _maybe(st.integers(-5, 200) | st.integers()),
    "timeout": _maybe(
        st.none() | st.floats(min_value=1.0, max_value=1e9) | st.sampled_from([0, math.nan])
    ),
    "options": _maybe(
        st.dictionaries(texts(max_size=10), JSON_VALUES, max_size=3)
        | st.builds(nested, st.integers(1, 300), st.sampled_from(["list", "dict"]))
    ),
    "metadata": _maybe(st.dictionaries(texts(max_size=10), texts(max_size=20), max_size=3)),
}
KNOWN = {"provider", "message", *FIELDS}
UNKNOWN_FIELDS = st.dictionaries(
    texts(min_size=1, max_size=12).filter(lambda k: k not in KNOWN), JSON_VALUES, max_size=2
)
PLAUSIBLE = st.fixed_dictionaries(
    {"provider": st.just("echo"), "message": st.sampled_from(COMMANDS)},
    optional={
        "end_user_id": st.sampled_from(["u1", "u2"]),
        "options": st.dictionaries(texts(max_size=10), JSON_VALUES, max_size=3),
        "metadata": st.dictionaries(texts(max_size=10), texts(max_size=20), max_size=3),
    },
)
RUN_BODIES = st.one_of(
    # Mostly well-formed: the run field names, plausible or wrongly typed values.
    st.builds(
        lambda base, extra, unknown: {**base, **extra, **unknown},
        st.fixed_dictionaries(
            {},
            optional={
                "provider": _maybe(
                    st.sampled_from(["echo", "echo", "nope", "", "ECHO"]) | LONE_SURROGATES
                ),
                "message": MESSAGES,
            },
        ),
        st.fixed_dictionaries({}, optional=FIELDS),
        st.one_of(st.just({}), UNKNOWN_FIELDS),
    ),
    # Well-formed and plausible (twice, for weight), so plenty of examples do run.
    PLAUSIBLE,
    PLAUSIBLE,
    JSON_VALUES,  # any JSON at all, objects or not
)
_AS_JSON = RUN_BODIES.map(lambda body: (body, json_bytes(body)))
PAYLOADS = st.one_of(_AS_JSON, _AS_JSON, _AS_JSON, st.binary(max_size=64).map(lambda b: (None, b)))


async def check_run_answer(served: Served, body: Any, payload: bytes) -> httpx.Response:
    """Send one body and check the whole contract (see the module docstring)."""
    before = await served.sessions()
    async with served.http() as http:
        response = await http.post(
            "/v1/runs", content=payload, headers={"content-type": "application/json"}
        )
        note(f"status {response.status_code}: {response.text[:300]!r}")
        event(f"status {response.status_code}")
        assert response.status_code < 500, response.text[:500]
        assert_no_traceback(response.text)
        after = await served.sessions()
        if response.is_success:
            await _check_finished_run(served, http, body, response, before, after)
        else:
            assert 400 <= response.status_code < 500
            assert after == before, "a refused request changed a session"
            _check_problem_names_the_field(body, response)
    return response


async def _check_finished_run(
    served: Served,
    http: httpx.AsyncClient,
    body: Any,
    response: httpx.Response,
    before: dict[str, int],
    after: dict[str, int],
) -> None:
    assert response.headers["content-type"].startswith("text/event-stream")
    types = stream_types(response.text)
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("run_finished") == 1
    session_id = response.headers["x-copass-session-id"]
    changed = {s for s in after if before.get(s) != after[s]}
    assert changed == {session_id}
    assert after[session_id] == before.get(session_id, 0) + 1
    assert await served.unfinished_turns(session_id) == []
    end_user = (body or {}).get("end_user_id") or "local"
    shown = await http.get(f"/v1/sessions/{session_id}", params={"end_user_id": end_user})
    assert shown.status_code == 200, shown.text[:300]
    assert len(shown.json()["turns"]) == after[session_id]
    listed = await http.get("/v1/sessions", params={"end_user_id": end_user, "limit": "500"})
    assert session_id in {s["session_id"] for s in listed.json()["sessions"]}


def _check_problem_names_the_field(body: Any, response: httpx.Response) -> None:
    problem = problem_of(response)
    if not isinstance(body, dict):
        return  # not an object: no field is at fault, the body is
    named = problem.get("field")
    if response.status_code == 400:
        assert problem["code"] == "invalid_request"
        # The field, or a path inside it ("options.key").
        fields = {*body, "provider", "message"}
        assert isinstance(named, str) and (named in fields or named.split(".", 1)[0] in fields)
        assert "Traceback" not in problem["detail"]
    elif response.status_code == 422:
        assert (problem["code"], named) == ("unknown_provider", "provider")
    elif response.status_code == 404:
        assert problem["code"] == "session_not_found"
        assert problem["session_id"] and body.get("session_id") is not None
    else:
        assert response.status_code == 413 and problem["code"] == "payload_too_large"


@SETTINGS
@given(PAYLOADS)
async def test_any_run_body_gets_a_finished_stream_or_a_problem(
    served: Served, case: tuple[Any, bytes]
) -> None:
    body, payload = case
    await check_run_answer(served, body, payload)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(1, 900) | st.integers(900, 3000),
    st.sampled_from(["list", "dict"]),
    st.sampled_from(["options", "x"]),
)
async def test_deeply_nested_bodies_are_handled(
    served: Served, depth: int, kind: str, field: str
) -> None:
    payload = b'{"provider": "echo", "message": "hi", "' + field.encode() + b'": '
    payload += nested_json(depth, kind) + b"}"
    # Python's parser gives up a little under 1,000 levels; past that the body as a whole is
    # at fault (400, no field), below it the field is.
    body = {"provider": "echo", "message": "hi", field: None} if depth < 900 else None
    response = await check_run_answer(served, body, payload)
    if body is not None and field == "x":
        assert problem_of(response)["field"] == "x"


@pytest.mark.parametrize("path", ["/v1/runs", "/v1/dispatch"])
async def test_nesting_beyond_the_parser_limit_is_a_400_not_a_500(
    served: Served, path: str
) -> None:
    payload = b'{"provider": "echo", "message": "hi", "options": ' + b"[" * 5000
    payload += b"]" * 5000 + b"}"
    # Dispatch takes no API key: a bearer credential there is a run token, checked first.
    async with served.http(None if path == "/v1/dispatch" else KEY) as http:
        response = await http.post(path, content=payload)
    assert response.status_code == 400
    assert problem_of(response)["code"] == "invalid_request"


LONE_SURROGATE = "hi \ud800 there"


@pytest.mark.parametrize("field", ["message", "model"])
async def test_a_lone_surrogate_is_refused_or_stays_readable(served: Served, field: str) -> None:
    body = {"provider": "echo", "message": "hi", "end_user_id": "u-surrogate"}
    body[field] = LONE_SURROGATE
    async with served.http() as http:
        response = await http.post("/v1/runs", content=json_bytes(body))
        assert response.status_code < 500
        if response.status_code == 400:
            assert problem_of(response)["field"] == field
            return
        session_id = response.headers["x-copass-session-id"]
        shown = await http.get(f"/v1/sessions/{session_id}?end_user_id=u-surrogate")
    assert shown.status_code == 200


async def test_an_unknown_provider_with_a_lone_surrogate_is_a_4xx(served: Served) -> None:
    body = {"provider": "\ud800", "message": "hi"}
    async with served.http() as http:
        response = await http.post("/v1/runs", content=json_bytes(body))
    assert 400 <= response.status_code < 500
    assert problem_of(response)["field"] == "provider"


async def test_a_nan_timeout_is_refused_before_anything_runs() -> None:
    # In-process on purpose: Router.run validates when called, so with the bug present
    # nothing is iterated and the test's loop is not stalled.
    router = Router(store=":memory:", load_entry_points=False, environ={})
    try:
        with pytest.raises(InvalidRequestError) as refused:
            router.run(provider="echo", message="hi", timeout=math.nan)
        assert refused.value.field == "timeout"
    finally:
        await router.aclose()
