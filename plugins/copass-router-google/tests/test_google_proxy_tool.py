"""The copass_dispatch proxy tool: its wire call, retries with one call id, errors as data."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from copass_router_google import proxy_tool
from copass_router_google.proxy_tool import dispatch_call

URL = "http://router.test/v1/dispatch"
TOKEN = "cpt1.claims.signature"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def call(client: httpx.Client, **overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "url": URL,
        "token": TOKEN,
        "tool_name": "lookup",
        "arguments": {"key": "k1"},
        "call_id": "call_0",
        "client": client,
        "backoff": 0.0,
    }
    fields.update(overrides)
    return dispatch_call(**fields)  # type: ignore[arg-type]


def test_posts_token_tool_arguments_and_call_id() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"call_id": "call_0", "output": "v1", "is_error": False})

    result = call(client_for(handler))
    assert seen == [
        {"token": TOKEN, "tool_name": "lookup", "arguments": {"key": "k1"}, "call_id": "call_0"}
    ]
    assert result == {"tool_name": "lookup", "output": "v1", "is_error": False}


def test_transient_failures_are_retried_with_the_same_call_id() -> None:
    answers = iter([httpx.ConnectError("down"), 503, 429, 200])
    call_ids: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        call_ids.append(json.loads(request.content)["call_id"])
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"output": "done", "is_error": False})

    result = call(client_for(handler))
    assert call_ids == ["call_0"] * 4
    assert result["is_error"] is False and result["output"] == "done"


def test_gives_up_as_data_after_the_last_attempt() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(502)

    result = call(client_for(handler), max_attempts=3)
    assert attempts == 3
    assert result["is_error"] is True
    assert "502" in str(result["output"]) and "3 attempts" in str(result["output"])


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_not_retried_and_comes_back_as_data(status: int) -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(status, json={"code": "dispatch_unauthorized", "detail": "forged"})

    result = call(client_for(handler))
    assert attempts == 1
    assert result["is_error"] is True
    assert "refused" in str(result["output"]) and "forged" in str(result["output"])


def test_tool_errors_pass_through_as_data() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"output": "boom", "is_error": True})

    assert call(client_for(handler)) == {"tool_name": "lookup", "output": "boom", "is_error": True}


def test_missing_configuration_is_reported_without_a_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    no_url = call(client_for(handler), url=None)
    no_token = call(client_for(handler), token=None)
    bad_args = call(client_for(handler), arguments=["not", "an", "object"])
    assert no_url["is_error"] and "COPASS_ROUTER_DISPATCH_URL" in str(no_url["output"])
    assert no_token["is_error"] and "token" in str(no_token["output"])
    assert bad_args["is_error"] and "JSON object" in str(bad_args["output"])


def test_one_client_per_process_and_url_from_the_engine_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert proxy_tool.shared_client() is proxy_tool.shared_client()
    monkeypatch.setenv("COPASS_ROUTER_DISPATCH_URL", "http://from-os-environ/v1/dispatch")
    assert proxy_tool.dispatch_url() == "http://from-os-environ/v1/dispatch"
    token = proxy_tool.runtime_environ.set({"COPASS_ROUTER_DISPATCH_URL": "http://engine/d"})
    try:
        assert proxy_tool.dispatch_url() == "http://engine/d"
    finally:
        proxy_tool.runtime_environ.reset(token)


def test_names_its_round_and_passes_the_routers_end_of_turn_on() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200, json={"output": "not run: limit", "is_error": True, "end_turn": True}
        )

    result = call(client_for(handler), round_id="event-1")
    assert seen[0]["round"] == "event-1"
    assert result == {
        "tool_name": "lookup",
        "output": "not run: limit",
        "is_error": True,
        "end_turn": True,  # copass_dispatch takes it out and stops the ADK run
    }


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("trace", "sent"),
    [
        (
            {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"},
            {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"},
        ),
        (
            {"traceparent": TRACEPARENT, "tracestate": "a\r\nX-Injected: 1"},
            {"traceparent": TRACEPARENT},
        ),
        ({"traceparent": TRACEPARENT + "\r\nX-Injected: 1"}, {}),
        ({"traceparent": TRACEPARENT.upper()}, {}),
        ({"traceparent": "ff" + TRACEPARENT[2:]}, {}),
        ({"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"}, {}),
        ({"tracestate": "vendor=opaque"}, {}),
        ("00-not-a-mapping", {}),
        (None, {}),
    ],
)
def test_sends_the_runs_trace_context_as_headers_and_drops_a_malformed_one(
    trace: object, sent: dict[str, str]
) -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"call_id": "call_0", "output": "v1", "is_error": False})

    result = call(client_for(handler), trace=trace)
    assert result == {"tool_name": "lookup", "output": "v1", "is_error": False}  # never fails
    (headers,) = seen
    found = {h: headers[h] for h in ("traceparent", "tracestate") if h in headers}
    assert found == sent
    assert "x-injected" not in headers
