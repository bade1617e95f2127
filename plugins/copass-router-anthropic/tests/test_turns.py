"""Turns through the router: streaming, custom tools, tool concurrency, ordering, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import copass_router_anthropic
from copass_router_anthropic.backend import AnthropicBackend
from copass_router_anthropic.emulator import EmulatorServer
from copass_router_anthropic.turn_driver import ToolPermission

from copass_router import (
    Message,
    ProviderEvent,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
    hookimpl,
    tool,
)

from .conftest import API_KEY


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    fields.setdefault("provider", "anthropic")
    return [e async for e in router.run(message=message, **fields)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-of-{key}"


async def test_streamed_text_turn(anthropic_router: Router, emulator: EmulatorServer) -> None:
    events = await run(
        anthropic_router, "/slow 0.01 stream these five words please", system="Be kind."
    )
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    # A token at a time, each as it comes (tokens that arrive in one read come as one delta).
    assert len(deltas) == 6 and "".join(deltas) == "echo: stream these five words please"
    assert text_of(events) == "".join(deltas)
    message = next(i for i, e in enumerate(events) if isinstance(e, Message))
    assert all(events.index(d) < message for d in events if isinstance(d, TextDelta))
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].input_tokens > 0 and usage[0].output_tokens == 6
    assert events[-1].stop_reason is StopReason.END_TURN
    # The stream opens (with deltas asked for) before the user message is sent.
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.requests]
    assert order.index(("GET", "stream")) < order.index(("POST", "events"))
    stream = emulator.state.requests_to("GET", "/v1/sessions/")[0]
    assert stream.query == (
        ("event_deltas[]", "agent.message"),
        ("event_deltas[]", "agent.thinking"),
    )
    agent = emulator.state.requests_to("POST", "/v1/agents")[0].body
    assert agent["model"] == "claude-sonnet-4-6" and agent["system"] == "Be kind."


async def test_custom_tool_round_trip(anthropic_router: Router, emulator: EmulatorServer) -> None:
    events = await run(anthropic_router, '/tool lookup {"key": "k1"}', tools=[lookup])
    calls = [e for e in events if isinstance(e, ToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(c.name, dict(c.arguments)) for c in calls] == [("lookup", {"key": "k1"})]
    assert [(r.call_id, r.output, r.is_error) for r in results] == [
        (calls[0].call_id, "value-of-k1", False)
    ]
    assert text_of(events) == "tool results: lookup -> value-of-k1"
    agent = emulator.state.requests_to("POST", "/v1/agents")[0].body
    assert agent["tools"][0]["name"] == "lookup" and agent["tools"][0]["type"] == "custom"
    assert agent["tools"][0]["input_schema"]["properties"]["key"]["type"] == "string"
    sent = emulator.state.sent_events("user.custom_tool_result")
    assert sent == [
        {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": calls[0].call_id,
            "content": [{"type": "text", "text": "value-of-k1"}],
            "is_error": False,
        }
    ]


async def test_two_tools_pending_at_once_run_concurrently(anthropic_router: Router) -> None:
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    @tool
    async def meet(name: str) -> str:
        """Wait until the other call has started too (deadlocks if calls run one by one)."""
        started[name].set()
        other = "b" if name == "a" else "a"
        await asyncio.wait_for(started[other].wait(), 5)
        return f"{name} met {other}"

    events = await run(
        anthropic_router, '/tools meet {"name": "a"} ; meet {"name": "b"}', tools=[meet]
    )
    results = {e.output for e in events if isinstance(e, ToolResult)}
    assert results == {"a met b", "b met a"}
    assert not any(e.is_error for e in events if isinstance(e, ToolResult))
    assert "meet -> a met b" in text_of(events) and "meet -> b met a" in text_of(events)
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_requires_action_before_the_tool_use_events(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    emulator.faults.idle_before_tool_use = True
    events = await asyncio.wait_for(
        run(anthropic_router, '/tools lookup {"key": "x"} ; lookup {"key": "y"}', tools=[lookup]),
        15,
    )
    outputs = sorted(e.output for e in events if isinstance(e, ToolResult))
    assert outputs == ["value-of-x", "value-of-y"]
    assert events[-1].stop_reason is StopReason.END_TURN
    assert len(emulator.state.sent_events("user.custom_tool_result")) == 2


async def test_a_failing_tool_reaches_the_model_as_an_error(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    @tool
    def broken(key: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    events = await run(anthropic_router, '/tool broken {"key": "k"}', tools=[broken])
    result = next(e for e in events if isinstance(e, ToolResult))
    assert result.is_error and "disk on fire" in result.output
    assert emulator.state.sent_events("user.custom_tool_result")[0]["is_error"] is True
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_tool_round_limit_interrupts_the_session(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    events = await run(
        anthropic_router, '/loop lookup {"key": "again"}', tools=[lookup], max_tool_rounds=2
    )
    assert len([e for e in events if isinstance(e, ToolResult)]) == 2
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT
    assert emulator.state.interrupts == 1
    assert len(emulator.state.sent_events("user.custom_tool_result")) == 2


async def test_builtin_tools_follow_the_permission_policy(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    toolset = {"default_config": {"permission_policy": {"type": "always_ask"}}}
    options = {"agent_toolset": toolset, "tool_permission": "deny"}
    events = await run(anthropic_router, '/tool bash {"command": "ls"}', options=options)
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.name == "bash" and call.provider_data["anthropic"]["evaluated_permission"] == "ask"
    result = next(e for e in events if isinstance(e, ToolResult))
    assert result.call_id == call.call_id and result.is_error
    confirmation = emulator.state.sent_events("user.tool_confirmation")
    assert [(c["tool_use_id"], c["result"]) for c in confirmation] == [(call.call_id, "deny")]
    agent = emulator.state.requests_to("POST", "/v1/agents")[0].body
    assert agent["tools"] == [{**toolset, "type": "agent_toolset_20260401"}]
    # The default policy allows.
    events = await run(
        anthropic_router, '/tool bash {"command": "pwd"}', options={"agent_toolset": toolset}
    )
    assert not next(e for e in events if isinstance(e, ToolResult)).is_error
    assert emulator.state.sent_events("user.tool_confirmation")[-1]["result"] == "allow"


async def test_mcp_tools_and_unknown_events_pass_through(
    make_router: Any, emulator: EmulatorServer
) -> None:
    servers = [{"type": "url", "name": "docs", "url": "https://mcp.example/docs"}]
    env = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": emulator.base_url}
    anthropic_router = make_router(
        plugins=[copass_router_anthropic],
        environ=env,
        provider_settings={"anthropic": {"mcp_servers": servers}},
    )
    emulator.faults.inject = [
        {"type": "session.thread_created", "session_thread_id": "t1"},
        {"type": "session.brand_new_kind", "payload": {"n": 1}},
    ]
    events = await run(
        anthropic_router, '/tool docs.search {"q": "x"}', options={"mcp_servers": ["docs"]}
    )
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.name == "search" and call.provider_data["anthropic"]["mcp_server_name"] == "docs"
    assert next(e for e in events if isinstance(e, ToolResult)).call_id == call.call_id
    kinds = {e.kind: e for e in events if isinstance(e, ProviderEvent)}
    assert kinds["session.brand_new_kind"].provider_data["anthropic"]["payload"] == {"n": 1}
    assert "session.thread_created" in kinds and "session.status_running" in kinds
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.END_TURN
    agent = emulator.state.requests_to("POST", "/v1/agents")[0].body
    assert agent["mcp_servers"] == servers
    assert agent["tools"] == [{"type": "mcp_toolset", "mcp_server_name": "docs"}]


async def test_a_host_policy_decides_tool_confirmations(
    make_router: Any, emulator: EmulatorServer
) -> None:
    asked: list[ToolPermission] = []

    async def policy(request: ToolPermission) -> str:
        asked.append(request)
        return "deny" if request.name == "bash" else "allow"

    class GuardedClaude:
        @hookimpl
        def copass_router_register_backends(self, register: Any) -> None:
            register("claude-guarded", lambda ctx: AnthropicBackend(ctx, permission_policy=policy))

    env = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": emulator.base_url}
    router = make_router(plugins=[GuardedClaude()], environ=env)
    toolset = {"default_config": {"permission_policy": {"type": "always_ask"}}}
    message = '/tools bash {"command": "rm -rf /"} ; read {"path": "a.txt"}'
    options = {"agent_toolset": toolset}
    events = await run(
        router, message, provider="claude-guarded", end_user_id="u-9", options=options
    )
    verdicts = {c["result"] for c in emulator.state.sent_events("user.tool_confirmation")}
    assert verdicts == {"allow", "deny"}
    assert sorted((a.name, a.end_user_id) for a in asked) == [("bash", "u-9"), ("read", "u-9")]
    results = {e.name: e.is_error for e in events if isinstance(e, ToolResult)}
    assert results == {"bash": True, "read": False}
