"""Approvals: a call that needs one pauses the run with ApprovalRequested until it is decided."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from copass_router import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    ConfigurationError,
    Event,
    Router,
    RunFinished,
    StopReason,
    ToolCall,
    ToolResult,
    tool,
)

from .conftest import stdio_server

RAN: list[str] = []


@tool(requires_approval=True)
def refund(order: str) -> str:
    """Refund an order."""
    RAN.append(order)
    return f"refunded {order}"


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order}: shipped"


async def _run(
    router: Router, message: str, decide: Callable[[Router, ApprovalRequested], Any] | None
) -> list[Event]:
    events: list[Event] = []
    async for event in router.run(provider="echo", message=message):
        events.append(event)
        if isinstance(event, ApprovalRequested) and decide is not None:
            decide(router, event)
    return events


def _of(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def test_an_approved_call_runs_after_the_pause(make_router: Callable[..., Router]) -> None:
    router = make_router(tools=[refund])
    RAN.clear()
    seen: list[list[Any]] = []

    def approve(r: Router, event: ApprovalRequested) -> None:
        seen.append(r.pending_approvals(event.run_id))
        assert r.approve(event.run_id, event.call_id)
        assert not r.approve(event.run_id, event.call_id)  # decided once

    events = await _run(router, '/tool refund {"order": "A-1"}', approve)
    (asked,) = _of(events, ApprovalRequested)
    assert asked.name == "refund" and asked.arguments == {"order": "A-1"} and asked.timeout > 0
    kinds = [type(e) for e in events]
    assert kinds.index(ToolCall) < kinds.index(ApprovalRequested) < kinds.index(ToolResult)
    (result,) = _of(events, ToolResult)
    assert result.output == "refunded A-1" and not result.is_error and RAN == ["A-1"]
    assert [p.call_id for p in seen[0]] == [asked.call_id]
    assert router.pending_approvals(asked.run_id) == []


async def test_a_denied_call_does_not_run_and_the_model_is_told(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(tools=[refund])
    RAN.clear()
    events = await _run(
        router,
        '/tool refund {"order": "A-2"}',
        lambda r, e: r.deny(e.run_id, e.call_id, "refunds need a manager"),
    )
    (result,) = _of(events, ToolResult)
    assert result.is_error and "denied: refunds need a manager" in result.output
    assert RAN == []
    assert _of(events, RunFinished)[0].stop_reason is StopReason.END_TURN


async def test_no_decision_within_the_timeout_denies(make_router: Callable[..., Router]) -> None:
    router = make_router(tools=[refund], approval_timeout=0.3)
    RAN.clear()
    events = await _run(router, '/tool refund {"order": "A-3"}', None)
    (result,) = _of(events, ToolResult)
    assert result.is_error and "no decision within 0.3 s" in result.output and RAN == []


async def test_a_handler_decides_and_the_operator_names_tools(
    make_router: Callable[..., Router],
) -> None:
    asked: list[ApprovalRequest] = []

    async def handler(request: ApprovalRequest) -> ApprovalDecision:
        asked.append(request)
        await asyncio.sleep(0)
        return ApprovalDecision(False, "not today")

    router = make_router(tools=[lookup], require_approval=["look*"], approval_handler=handler)
    events = await _run(router, '/tool lookup {"order": "B-1"}', None)
    (result,) = _of(events, ToolResult)
    assert result.is_error and "not today" in result.output
    assert asked[0].name == "lookup" and asked[0].end_user_id == "local"


async def test_parallel_calls_only_the_gated_one_waits(make_router: Callable[..., Router]) -> None:
    router = make_router(tools=[refund, lookup], approval_handler=lambda request: True)
    events = await _run(router, '/tools lookup {"order": "C-1"} ; refund {"order": "C-2"}', None)
    assert [e.name for e in _of(events, ApprovalRequested)] == ["refund"]
    outputs = sorted(r.output for r in _of(events, ToolResult))
    assert outputs == ["order C-1: shipped", "refunded C-2"]


async def test_an_mcp_servers_tools_can_require_approval(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(mcp_servers=[stdio_server(require_approval=["search"])])
    events = await _run(
        router,
        '/tool docs__search {"query": "q"}',
        lambda r, e: r.approve(e.run_id, e.call_id),
    )
    assert [e.name for e in _of(events, ApprovalRequested)] == ["docs__search"]
    assert _of(events, ToolResult)[0].output.startswith("found: q")
    plain = await _run(
        router, '/tool docs__add {"a": {"x": 1, "y": 1}, "b": {"x": 0, "y": 0}}', None
    )
    assert not _of(plain, ApprovalRequested)


async def test_the_operator_may_set_the_policy_in_the_environment(
    make_router: Callable[..., Router],
) -> None:
    env = {
        "COPASS_ROUTER_REQUIRE_APPROVAL": "look*, other",
        "COPASS_ROUTER_APPROVAL_TIMEOUT": "0.2",
    }
    router = make_router(tools=[lookup], environ=env, require_approval=["refund"])
    assert router.approvals.patterns == ("refund", "look*", "other")
    events = await _run(router, '/tool lookup {"order": "o-9"}', None)
    assert [e.name for e in _of(events, ApprovalRequested)] == ["lookup"]
    (result,) = _of(events, ToolResult)
    assert result.is_error and "no decision within 0.2 s" in result.output
    # the code's timeout wins over the environment's
    assert make_router(environ=env, approval_timeout=7).approvals.timeout == 7
    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_APPROVAL_TIMEOUT"):
        make_router(environ={"COPASS_ROUTER_APPROVAL_TIMEOUT": "soon"})
