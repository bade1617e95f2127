"""Hosted usage and budgets: each key sees its own tenant's usage; over budget is a 402."""

from __future__ import annotations

import datetime as dt

import pytest

from copass_router import Budget, BudgetExceededError, StopReason

from .conftest import KEY_ALPHA, KEY_BETA, Hosted, problem_of


async def test_usage_shows_the_calling_key_s_tenant_only(hosted: Hosted) -> None:
    await hosted.remote(KEY_ALPHA).complete(provider="echo", message="a b c", end_user_id="ana")
    await hosted.remote(KEY_ALPHA).complete(provider="echo", message="d", end_user_id="bob")
    await hosted.remote(KEY_BETA).complete(provider="echo", message="e", end_user_id="ana")
    async with hosted.http(KEY_ALPHA) as http:
        body = (await http.get("/v1/usage")).json()
        only_ana = (await http.get("/v1/usage", params={"end_user_id": "ana"})).json()
        bad = await http.get("/v1/usage", params={"since": "yesterday"})
    assert body["tenant"] == "alpha"
    assert [(r["tenant"], r["end_user_id"]) for r in body["usage"]] == [
        ("alpha", "ana"),
        ("alpha", "bob"),
    ]
    assert all(r["day"] == dt.datetime.now(dt.UTC).date().isoformat() for r in body["usage"])
    assert [r["end_user_id"] for r in only_ana["usage"]] == ["ana"]
    assert bad.status_code == 400 and problem_of(bad)["field"] == "since"
    async with hosted.http(KEY_BETA) as http:
        beta = (await http.get("/v1/usage")).json()
    assert [(r["tenant"], r["end_user_id"]) for r in beta["usage"]] == [("beta", "ana")]
    async with hosted.http(None) as http:
        assert (await http.get("/v1/usage")).status_code == 401


async def test_a_run_over_budget_is_a_402_naming_the_limit_and_its_reset(hosted: Hosted) -> None:
    hosted.router.budgets.set(Budget(metric="tokens", limit=3, tenant="alpha", end_user_id="*"))
    first = await hosted.remote(KEY_ALPHA).complete(
        provider="echo", message="one two three four", end_user_id="ana"
    )
    assert first.stop_reason is StopReason.END_TURN
    async with hosted.http(KEY_ALPHA) as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "again", "end_user_id": "ana"}
        )
    assert response.status_code == 402
    body = problem_of(response)
    assert body["code"] == "budget_exceeded"
    assert body["limit"] == "tenant alpha, end user ana: 3 tokens per day"
    assert body["resets_at"].endswith("T00:00:00+00:00")
    assert int(response.headers["retry-after"]) >= 1
    with pytest.raises(BudgetExceededError) as caught:
        await hosted.remote(KEY_ALPHA).complete(provider="echo", message="x", end_user_id="ana")
    assert caught.value.limit == body["limit"]
    other = await hosted.remote(KEY_BETA).complete(provider="echo", message="x", end_user_id="ana")
    assert other.stop_reason is StopReason.END_TURN, "another tenant's budget is its own"
