"""The operator's policy beats a run's options: connector servers come from host settings (a
run names them, never gives a URL); a run's tool_permission can only make things stricter; the
router's approvals decide the calls Claude asks permission for, when the operator gates them."""

from __future__ import annotations

from typing import Any

import copass_router_anthropic
import pytest
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import ApprovalRequested, InvalidRequestError, Router, ToolResult

from .conftest import API_KEY

TOOLSET = {"default_config": {"permission_policy": {"type": "always_ask"}}}


def _router(make_router: Any, emulator: EmulatorServer, **kwargs: Any) -> Router:
    env = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": emulator.base_url}
    router: Router = make_router(plugins=[copass_router_anthropic], environ=env, **kwargs)
    return router


async def _events(router: Router, message: str, **fields: Any) -> list[Any]:
    events = []
    async for event in router.run(provider="anthropic", message=message, **fields):
        events.append(event)
        if isinstance(event, ApprovalRequested):
            router.deny(event.run_id, event.call_id, "ask a person first")
    return events


async def test_a_run_cannot_give_a_connector_server_url(
    make_router: Any, emulator: EmulatorServer
) -> None:
    router = _router(make_router, emulator)
    servers = [{"type": "url", "name": "evil", "url": "http://169.254.169.254/"}]
    with pytest.raises(InvalidRequestError, match="cannot give a server or a URL"):
        await router.complete(provider="anthropic", message="hi", options={"mcp_servers": servers})
    with pytest.raises(InvalidRequestError, match="not an MCP connector server"):
        await router.complete(provider="anthropic", message="hi", options={"mcp_servers": ["x"]})
    assert not emulator.state.requests_to("POST", "/v1/agents")


async def test_a_run_cannot_allow_what_the_operator_denies(
    make_router: Any, emulator: EmulatorServer
) -> None:
    router = _router(
        make_router,
        emulator,
        provider_settings={"anthropic": {"permission_policy": lambda r: False}},
    )
    options = {"agent_toolset": TOOLSET, "tool_permission": "allow"}
    events = await _events(router, '/tool bash {"command": "ls"}', options=options)
    assert next(e for e in events if isinstance(e, ToolResult)).is_error
    assert emulator.state.sent_events("user.tool_confirmation")[-1]["result"] == "deny"


async def test_claudes_permission_asks_become_router_approvals(
    make_router: Any, emulator: EmulatorServer
) -> None:
    router = _router(make_router, emulator, require_approval=["bash"])
    events = await _events(
        router, '/tool bash {"command": "ls"}', options={"agent_toolset": TOOLSET}
    )
    (asked,) = [e for e in events if isinstance(e, ApprovalRequested)]
    assert asked.name == "bash" and asked.arguments == {"command": "ls"}
    confirmation = emulator.state.sent_events("user.tool_confirmation")[-1]
    assert confirmation["result"] == "deny" and "ask a person first" in confirmation["deny_message"]
    # a tool the operator does not gate follows the permission policy (allow) without a pause
    events = await _events(router, '/tool read {"path": "a"}', options={"agent_toolset": TOOLSET})
    assert not [e for e in events if isinstance(e, ApprovalRequested)]
    assert emulator.state.sent_events("user.tool_confirmation")[-1]["result"] == "allow"
