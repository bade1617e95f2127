"""Who may see what: end users never reach each other's sessions, keys are tenants."""

from __future__ import annotations

import httpx
import pytest

from copass_router import ConfigurationError, SessionNotFoundError, StopReason
from copass_router.server import ApiKeys, create_app

from .conftest import KEY_ALPHA, KEY_BETA, Hosted, ToolCounter, make_router, problem_of


async def test_end_user_b_cannot_read_or_continue_a_session(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        first = await remote.complete(provider="echo", message="secret plan", end_user_id="alice")
        sid = first.session_id
        with pytest.raises(SessionNotFoundError):
            await remote.transcript(sid, "bob")
        with pytest.raises(SessionNotFoundError):
            await remote.get_session(sid, "bob")
        with pytest.raises(SessionNotFoundError):
            await remote.complete(
                provider="echo", message="/recall", session_id=sid, end_user_id="bob"
            )
        with pytest.raises(SessionNotFoundError):
            await remote.delete_session(sid, "bob")
        assert await remote.list_sessions("bob") == []
        # Alice still has it, untouched, and can continue it.
        turns = await remote.transcript(sid, "alice")
        again = await remote.complete(
            provider="echo", message="/recall", session_id=sid, end_user_id="alice"
        )
        info = await remote.get_session(sid, "alice")
    assert [t.user for t in turns] == ["secret plan"]
    assert "user: secret plan" in again.text
    assert (info.end_user_id, info.turn_count) == ("alice", 2)


async def test_the_same_end_user_under_another_key_is_someone_else(hosted: Hosted) -> None:
    async with hosted.remote(KEY_ALPHA) as alpha, hosted.remote(KEY_BETA) as beta:
        result = await alpha.complete(provider="echo", message="alpha's", end_user_id="u-1")
        with pytest.raises(SessionNotFoundError):
            await beta.transcript(result.session_id, "u-1")
        with pytest.raises(SessionNotFoundError):
            await beta.complete(
                provider="echo", message="hi", session_id=result.session_id, end_user_id="u-1"
            )
        assert await beta.list_sessions("u-1") == []
        (mine,) = await alpha.list_sessions("u-1")
    assert mine.session_id == result.session_id
    assert mine.end_user_id == "u-1"  # the caller sees its own name for the end user
    # Inside the router the end user is namespaced by the key's label.
    assert (await hosted.router.get_session(result.session_id, "alpha:u-1")).turn_count == 1


async def test_a_tenant_cannot_claim_another_tenants_namespace(hosted: Hosted) -> None:
    async with hosted.remote(KEY_ALPHA) as alpha, hosted.remote(KEY_BETA) as beta:
        result = await alpha.complete(provider="echo", message="hi", end_user_id="u-1")
        with pytest.raises(SessionNotFoundError):
            # "alpha:u-1" named by beta is stored as "beta:alpha:u-1": not alpha's user.
            await beta.transcript(result.session_id, "alpha:u-1")


async def test_delete_session_removes_it_for_its_owner(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        result = await remote.complete(provider="echo", message="hi", end_user_id="u-1")
        await remote.delete_session(result.session_id, "u-1")
        with pytest.raises(SessionNotFoundError):
            await remote.transcript(result.session_id, "u-1")
    assert result.stop_reason is StopReason.END_TURN


async def test_runs_carry_the_callers_tenant(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        await remote.complete(
            provider="scripted",
            message="hi",
            end_user_id="u-7",
            metadata={"tenant": "beta", "trace": "t-1"},
        )
    (turn,) = hosted.scripted.turns
    # Tools and backends see the tenant of the key that called, whatever the body claimed.
    assert dict(turn.request.metadata) == {"tenant": "alpha", "trace": "t-1"}
    assert turn.end_user_id == "alpha:u-7"


async def test_without_keys_only_loopback_clients_are_answered() -> None:
    router = make_router(ToolCounter())
    app = create_app(router, api_keys=[])
    try:
        far = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)),
            base_url="http://router",
        )
        near = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)),
            base_url="http://router",
        )
        async with far, near:
            refused = await far.get("/v1/providers")
            answered = await near.get("/v1/providers")
    finally:
        await router.aclose()
    assert refused.status_code == 403
    assert problem_of(refused)["code"] == "forbidden"
    assert answered.status_code == 200


def test_keys_are_held_hashed_and_checked_whole() -> None:
    keys = ApiKeys.parse([f"ops:{KEY_ALPHA}", KEY_BETA, " "])
    assert KEY_ALPHA not in repr(keys) and KEY_BETA not in repr(keys)
    assert keys.identify(KEY_ALPHA) == "ops"
    assert keys.identify(KEY_BETA) is not None and keys.identify(KEY_BETA).startswith("key-")
    assert keys.identify(KEY_ALPHA[:-1]) is None
    assert keys.identify(KEY_ALPHA + "x") is None
    assert keys.identify("") is None
    assert ApiKeys.from_environ({"COPASS_ROUTER_API_KEYS": f"{KEY_ALPHA}, {KEY_BETA}"}).enabled
    assert not ApiKeys.from_environ({}).enabled
    with pytest.raises(ConfigurationError, match="shorter than"):
        ApiKeys.parse(["short"])
