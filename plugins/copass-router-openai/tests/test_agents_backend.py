"""``openai-agents`` against its emulator, through the real SDK: tools, sessions, resources,
cancellation, faults, usage, budgets and what only the operator may enable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import copass_router_openai
import openai
import pytest
from copass_router_openai.agents_backend import OpenAIAgentsBackend
from copass_router_openai.emulator.agents import AgentsEmulator, running_emulator

from copass_router import (
    Budget,
    ConfigurationError,
    Error,
    InvalidRequestError,
    ProviderEvent,
    Router,
    RunStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
    tool,
)

from .conftest import API_KEY

PROVIDER = "openai-agents"


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    fields.setdefault("end_user_id", "u-1")
    return [e async for e in router.run(provider=PROVIDER, message=message, **fields)]


def inputs(emu: AgentsEmulator, kind: str) -> list[dict[str, Any]]:
    """The input events of ``kind`` the emulator received, in order."""
    found = []
    for request in emu.requests:
        if request.method == "POST" and request.path.endswith("/events"):
            found += [e for e in request.body["events"] if e["type"] == kind]
    return found


async def test_parallel_calls_of_one_step_run_in_the_router_and_resume_the_session(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    events = await run(
        agents_router, '/tools lookup {"key": "a"} ; lookup {"key": "b"}', tools=[lookup]
    )
    results = sorted(e.output for e in events if isinstance(e, ToolResult))
    assert results == ["value-a", "value-b"]
    assert events[-1].stop_reason is StopReason.END_TURN
    answers = inputs(agents_emu, "agent.session.input.tool_result")
    assert sorted(a["output"] for a in answers) == ["value-a", "value-b"]
    assert all(a["success"] and a["turn_id"] for a in answers)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert {c.call_id for c in calls} == {a["call_id"] for a in answers}


async def test_a_failing_tool_is_answered_as_a_failed_call(agents_router: Router) -> None:
    @tool
    def broken(key: str) -> str:
        """Always fails."""
        raise RuntimeError("the database is down")

    events = await run(agents_router, '/tool broken {"key": "k"}', tools=[broken])
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert result.is_error
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_one_session_per_router_session_and_a_changed_config_updates_it(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    first = await run(agents_router, "one", system="You are A.")
    sid = first[0].session_id
    await run(agents_router, "two", system="You are A.", session_id=sid)
    third = await run(agents_router, "/whoami", system="You are B.", session_id=sid)
    text = "".join(e.text for e in third if isinstance(e, TextDelta))
    assert "You are B." in text and "You are A." not in text
    assert agents_emu.creates == {"agent": 2, "session": 1}
    updates = [
        r.body["agent"]["instructions"]
        for r in agents_emu.requests
        if r.method == "POST" and r.path == f"/v1/agents/sessions/{first_native(agents_emu)}"
    ]
    assert updates == ["You are B."]


def first_native(emu: AgentsEmulator) -> str:
    return next(iter(emu.sessions))


async def test_the_session_carries_the_router_session_and_end_user(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    events = await run(agents_router, "hi", end_user_id="ana")
    [session] = agents_emu.sessions.values()
    assert session.metadata == {
        "copass_session_id": events[0].session_id,
        "copass_end_user_id": "ana",
    }
    assert session.environment == {"type": "none"}


async def test_concurrent_cold_runs_create_the_agent_once(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    results = await asyncio.gather(*(run(agents_router, f"hi {n}", system="S") for n in range(8)))
    assert all(r[-1].stop_reason is StopReason.END_TURN for r in results)
    assert agents_emu.creates == {"agent": 1, "session": 8}


async def test_a_deleted_agent_is_recreated_once(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    await run(agents_router, "warm", system="P")
    (stale,) = agents_emu.agents
    agents_emu.forget_agent(stale)
    events = await run(agents_router, "after the agent vanished", system="P")
    assert events[-1].stop_reason is StopReason.END_TURN
    assert agents_emu.creates["agent"] == 2 and stale not in agents_emu.agents
    await run(agents_router, "and again", system="P")
    assert agents_emu.creates["agent"] == 2


async def test_a_429_on_create_waits_for_retry_after(make_router: Callable[..., Router]) -> None:
    with running_emulator(api_key=API_KEY, create_limit=3, create_period=1.0) as emu:
        env = {
            "OPENAI_API_KEY": API_KEY,
            "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": emu.base_url,
            "COPASS_OPENAI_AGENTS_CREATE_LIMIT": "1000",
        }
        router = make_router(plugins=[copass_router_openai], environ=env)
        results = await asyncio.gather(*(run(router, "x", system=f"p{n}") for n in range(5)))
        assert [r[-1].stop_reason for r in results] == [StopReason.END_TURN] * 5
        assert emu.rate_limited >= 1 and emu.creates["agent"] == 5


async def test_unused_agents_are_deleted_by_the_sweep(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    await run(agents_router, "one", system="old")
    backend = await agents_router.backend(PROVIDER)
    assert isinstance(backend, OpenAIAgentsBackend)
    (old,) = agents_emu.agents
    start = backend.resources.clock()
    backend.resources.clock = lambda: start + 10 * 86400
    await run(agents_router, "two", system="new")
    # That run started a background sweep (one was due): it ends before the clock moves on,
    # or it would archive the old agent itself.
    async with asyncio.timeout(10):
        while backend.resources.sweeping:  # noqa: ASYNC110 - the sweep is the backend's task
            await asyncio.sleep(0.01)
    backend.resources.clock = lambda: start + 35 * 86400
    assert await backend.resources.sweep() == 1
    assert old not in agents_emu.agents and len(agents_emu.agents) == 1


async def test_deleting_a_router_session_deletes_the_agents_session(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    events = await run(agents_router, "hello", end_user_id="u-9")
    binding = await agents_router.store.get_binding(events[0].session_id, PROVIDER)
    assert binding is not None and binding.native_id in agents_emu.sessions
    await agents_router.delete_session(events[0].session_id, "u-9")
    assert binding.native_id not in agents_emu.sessions


async def test_breaking_out_cancels_the_turn_at_the_provider(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    stream = agents_router.run(
        provider=PROVIDER, message="/slow 0.1 " + " ".join(f"w{i}" for i in range(30))
    )
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    assert len(inputs(agents_emu, "agent.session.input.cancel")) == 1
    [session] = agents_emu.sessions.values()
    for _ in range(100):
        if session.status == "idle":
            break
        await asyncio.sleep(0.02)
    assert session.status == "idle"


async def test_a_timeout_cancels_the_turn_and_keeps_the_session_usable(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    events = await run(agents_router, "/slow 0.2 a b c d e f g h i j", timeout=0.5)
    assert events[-1].stop_reason in (StopReason.CANCELLED, StopReason.ERROR)
    assert len(inputs(agents_emu, "agent.session.input.cancel")) == 1
    after = await run(agents_router, "still there?", session_id=events[0].session_id)
    assert after[-1].stop_reason is StopReason.END_TURN


async def test_the_tool_round_cap_cancels_the_provider_turn(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    events = await run(
        agents_router, '/loop lookup {"key": "x"}', tools=[lookup], max_tool_rounds=2
    )
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT
    assert len([e for e in events if isinstance(e, ToolResult)]) == 2
    assert len(inputs(agents_emu, "agent.session.input.cancel")) == 1


async def test_a_dropped_stream_is_reopened_and_the_turn_completes(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    await run(agents_router, "warm")  # the agent exists; the next stream is the session's
    agents_emu.faults.cut_stream(after_events=4)
    events = await run(agents_router, '/tool lookup {"key": "cut"}', tools=[lookup])
    assert events[-1].stop_reason is StopReason.END_TURN, [
        e for e in events if isinstance(e, Error)
    ]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "tool results: lookup -> value-cut"
    assert agents_emu.streams.cut == 1


@pytest.mark.parametrize("publish_usage", [True, False])
async def test_usage_is_metered_with_or_without_the_turns_own_usage(
    make_router: Callable[..., Router], publish_usage: bool
) -> None:
    with running_emulator(api_key=API_KEY, publish_usage=publish_usage) as emu:
        env = {"OPENAI_API_KEY": API_KEY, "COPASS_ROUTER_OPENAI_AGENTS_BASE_URL": emu.base_url}
        router = make_router(plugins=[copass_router_openai], environ=env)
        events = await run(router, '/tool lookup {"key": "u"}', tools=[lookup], model="gpt-4.1")
        [session] = emu.sessions.values()
        usage = events[-1].usage
        assert (usage.input_tokens, usage.output_tokens) == tuple(session.tokens)
        assert any(isinstance(e, Usage) for e in events[: events.index(events[-1])])
        assert events[-1].cost_usd is not None  # gpt-4.1 has a list price
        rows = await router.usage(end_user_id="u-1")
        assert sum(r.input_tokens for r in rows) == session.tokens[0]


async def test_the_sessions_own_spending_limit_stops_the_turn_with_budget(
    router_with: Callable[..., Router], agents_env: dict[str, str]
) -> None:
    router = router_with({**agents_env, "COPASS_OPENAI_AGENTS_SPEND_LIMIT_CENTS": "1"})
    backend = await router.backend(PROVIDER)
    assert isinstance(backend, OpenAIAgentsBackend) and backend.spend_limit == 1
    events = await run(router, "/long 2000")
    assert events[-1].stop_reason is StopReason.BUDGET
    assert [e.code for e in events if isinstance(e, Error)] == ["budget_exceeded"]
    assert any(isinstance(e, ProviderEvent) and e.kind.endswith("budget_reached") for e in events)


async def test_builtin_tools_only_when_the_operator_enables_them(
    router_with: Callable[..., Router], agents_env: dict[str, str], agents_emu: AgentsEmulator
) -> None:
    plain = router_with(agents_env)
    with pytest.raises(InvalidRequestError):
        await run(plain, "hi", options={"builtin_tools": ["web_search"]})
    router = router_with({**agents_env, "COPASS_OPENAI_AGENTS_BUILTIN_TOOLS": "web_search"})
    events = await run(router, '/tool web_search {"query": "copass"}')
    [shown] = [e for e in events if isinstance(e, ProviderEvent) and "web_search" in e.kind]
    assert shown.provider_data[PROVIDER]["provider_run"] is True
    assert not [e for e in events if isinstance(e, ToolCall)]
    assert events[-1].stop_reason is StopReason.END_TURN
    assert any(isinstance(e, Usage) for e in events)
    [body] = [r.body for r in agents_emu.requests.matching("/v1/agents") if r.method == "POST"]
    assert {"type": "web_search"} in body["tools"]


async def test_an_unknown_builtin_tool_is_a_configuration_error(
    router_with: Callable[..., Router], agents_env: dict[str, str]
) -> None:
    router = router_with({**agents_env, "COPASS_OPENAI_AGENTS_BUILTIN_TOOLS": "teleport"})
    with pytest.raises(ConfigurationError) as refused:
        await run(router, "hi")
    assert "teleport" in str(refused.value) and "web_search" in str(refused.value)


async def test_the_key_never_leaks_into_an_error(
    router_with: Callable[..., Router], agents_env: dict[str, str]
) -> None:
    router = router_with({**agents_env, "OPENAI_API_KEY": "sk-wrong-0123456789abcdefXYZ"})
    events = await run(router, "hi")
    [error] = [e for e in events if isinstance(e, Error)]
    assert error.code == "authentication_failed"
    assert "0123456789abcdefXYZ" not in repr(events)


async def test_the_sdk_sees_what_the_router_created(agents_emu: AgentsEmulator) -> None:
    # The emulator's wire shapes parse into the SDK's own types.
    async with openai.AsyncOpenAI(api_key=API_KEY, base_url=agents_emu.base_url) as client:
        agent = await client.beta.agents.create(model="gpt-4.1", name="probe")
        session = await client.beta.agents.sessions.create(
            agent_id=agent.id, environment={"type": "none"}, input="hello"
        )
        assert session.agent.model == "gpt-4.1"
        listed = [a.id async for a in client.beta.agents.list()]
        assert listed == [agent.id]
        assert (await client.beta.agents.delete(agent.id)).deleted
    assert isinstance(RunStarted, type)


async def test_a_router_budget_stops_the_turn_before_its_tools_run(
    router_with: Callable[..., Router], agents_env: dict[str, str]
) -> None:
    ran: list[str] = []

    @tool
    def counted(key: str) -> str:
        """Counts its calls."""
        ran.append(key)
        return key

    budget = Budget(metric="tokens", limit=3, period="day", end_user_id="*")
    router = router_with(agents_env, budgets=[budget])
    events = await run(router, '/tool counted {"key": "k"}', tools=[counted])
    assert events[-1].stop_reason is StopReason.BUDGET
    assert ran == []
    assert events[-1].usage.input_tokens > 0  # the call that crossed the budget is metered
