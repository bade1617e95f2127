"""Per-session tool selection: a run's narrowing may be kept on its session, and the session's
later runs keep it unless they narrow again; nothing a run says adds a server or a tool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from copass_router import InvalidRequestError, Router, RunResult, SessionNotFoundError, tool

from .conftest import stdio_server

ADD = '/tool docs__add {"a": {"x": 1, "y": 1}, "b": {"x": 2, "y": 2}}'
SEARCH = '/tool docs__search {"query": "q"}'


@tool
def refund(order: str) -> str:
    """Refund an order."""
    return f"refunded {order}"


def _refused(run: RunResult) -> bool:
    (result,) = run.tool_results
    return result.is_error and "not allowed" in result.output


@pytest.fixture
def router(make_router: Callable[..., Router]) -> Router:
    return make_router(mcp_servers=[stdio_server()], tools=[refund])


async def test_a_kept_narrowing_holds_for_the_sessions_later_runs(router: Router) -> None:
    first = await router.complete(
        provider="echo", message=SEARCH, allowed_tools=["docs__s*"], keep_allowed_tools=True
    )
    assert not first.tool_results[0].is_error
    session: dict[str, Any] = {"provider": "echo", "session_id": first.session_id}
    # A later run that says nothing is narrowed the same way: the model may not call the rest.
    assert _refused(await router.complete(message=ADD, **session))
    assert _refused(await router.complete(message='/tool refund {"order": "o"}', **session))
    assert not (await router.complete(message=SEARCH, **session)).tool_results[0].is_error
    # A run that narrows again uses its own narrowing, and (not kept) only for itself.
    wider = await router.complete(message=ADD, allowed_tools=["docs__*"], **session)
    assert not wider.tool_results[0].is_error
    assert _refused(await router.complete(message=ADD, **session))
    # Keeping a new narrowing replaces the old one.
    await router.complete(message="hi", allowed_tools=["*"], keep_allowed_tools=True, **session)
    assert not (await router.complete(message=ADD, **session)).tool_results[0].is_error


async def test_a_narrowing_not_kept_leaves_the_session_alone(router: Router) -> None:
    first = await router.complete(provider="echo", message=SEARCH, allowed_tools=["docs__search"])
    later = await router.complete(provider="echo", message=ADD, session_id=first.session_id)
    assert not later.tool_results[0].is_error


async def test_a_kept_narrowing_belongs_to_its_session_only(router: Router) -> None:
    kept = await router.complete(
        provider="echo", message="hi", allowed_tools=["refund"], keep_allowed_tools=True
    )
    other = await router.complete(provider="echo", message=ADD)
    assert not other.tool_results[0].is_error
    with pytest.raises(SessionNotFoundError):
        await router.complete(
            provider="echo", message=ADD, session_id=kept.session_id, end_user_id="someone-else"
        )
    await router.delete_session(kept.session_id, "local")
    fresh = await router.complete(provider="echo", message=ADD)
    assert not fresh.tool_results[0].is_error


async def test_keeping_needs_a_narrowing_and_never_names_a_server(router: Router) -> None:
    with pytest.raises(InvalidRequestError, match="pass allowed_tools too") as caught:
        await router.complete(provider="echo", message="hi", keep_allowed_tools=True)
    assert caught.value.field == "keep_allowed_tools"
    with pytest.raises(InvalidRequestError, match="true or false"):
        await router.complete(
            provider="echo", message="hi", allowed_tools=["*"], keep_allowed_tools="yes"
        )
    with pytest.raises(InvalidRequestError, match="operator configures servers"):
        await router.complete(
            provider="echo",
            message="hi",
            allowed_tools=["https://mcp.example.com/mcp"],
            keep_allowed_tools=True,
        )
    with pytest.raises(InvalidRequestError, match="matches no tool"):
        await router.complete(
            provider="echo", message="hi", allowed_tools=["wiki__*"], keep_allowed_tools=True
        )
