"""max_tool_rounds on google: calls arrive through copass_dispatch, the ADK run stops at the cap."""

from __future__ import annotations

import asyncio
from typing import Any

from copass_router_google.deploy import make_client, static_token_credentials
from copass_router_google.emulator import GoogleEmulator

from copass_router import Router, RunFinished, StopReason, ToolCall, ToolResult, tool

PINGS: list[int] = []
CLIENTS: list[Any] = []  # a Client closes its connections when collected; keep them alive


@tool
def ping(n: int = 0) -> str:
    """Answer pong."""
    PINGS.append(n)
    return f"pong {n}"


def function_responses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        part["function_response"]["response"]
        for event in events
        for part in (event.get("content") or {}).get("parts", [])
        if "function_response" in part
    ]


async def settle(emulator: GoogleEmulator, engine: str) -> int:
    """The engine's model-call count once nothing more is coming."""
    count = -1
    while count != len(emulator.model_calls(engine)):
        count = len(emulator.model_calls(engine))
        await asyncio.sleep(0.3)
    return count


async def test_a_looping_model_stops_at_max_tool_rounds(
    run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    PINGS.clear()
    events = await run_google("/loop ping {}", tools=[ping], max_tool_rounds=2)
    assert sum(isinstance(e, ToolCall) for e in events) == 2
    assert [e.is_error for e in events if isinstance(e, ToolResult)] == [False, False]
    assert len(PINGS) == 2
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.TOOL_LIMIT
    # Two rounds ran; the third response's call was refused and the ADK run stopped there.
    assert await settle(fresh_emulator, engine) == 3


async def test_parallel_calls_of_one_response_are_one_round(
    run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    PINGS.clear()
    events = await run_google(
        '/loop ping {"n": 1} ; ping {"n": 2}', tools=[ping], max_tool_rounds=2
    )
    assert sorted(PINGS) == [1, 1, 2, 2]  # two rounds of two calls
    assert sum(isinstance(e, ToolCall) for e in events) == 4
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT
    assert await settle(fresh_emulator, engine) == 3


async def test_no_tool_rounds_runs_no_tool(
    run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    PINGS.clear()
    events = await run_google("/loop ping {}", tools=[ping], max_tool_rounds=0)
    assert PINGS == [] and not any(isinstance(e, ToolCall) for e in events)
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT
    assert await settle(fresh_emulator, engine) == 1


async def test_a_tool_call_under_the_cap_still_finishes_the_turn(run_google: Any) -> None:
    events = await run_google('/tool ping {"n": 7}', tools=[ping], max_tool_rounds=1)
    assert events[-1].stop_reason is StopReason.END_TURN
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["pong 7"]


async def test_the_agent_stops_calling_its_model_when_the_router_ends_the_turn(
    google_router: Router, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    """The agent's own side: even a caller that keeps reading the ADK stream sees it end."""
    PINGS.clear()
    # A live run with no tool rounds left; its token is what the agent holds.
    live = asyncio.create_task(
        google_router.complete(
            provider="google",
            reasoning_engine_id=engine,
            message="/slow 0.2 a b c d e f g h i j",
            tools=[ping],
            max_tool_rounds=0,
        )
    )
    for _ in range(500):  # until the live run's stream request reached the engine
        if fresh_emulator.requests_to("stream"):
            break
        await asyncio.sleep(0.02)
    token = fresh_emulator.requests_to("stream")[0].body["input"]["state_delta"][
        "temp:copass_dispatch_token"
    ]
    client = make_client(
        project=engine.split("/")[1],
        location=engine.split("/")[3],
        credentials=static_token_credentials("agent-side"),
        base_url=fresh_emulator.base_url,
    )
    CLIENTS.append(client)
    runtime = client.runtimes.get(name=engine)
    session = await runtime.async_create_session(user_id="direct")
    before = len(fresh_emulator.model_calls(engine))
    events = [
        e
        async for e in runtime.async_stream_query(
            message="/loop ping {}",
            user_id="direct",
            session_id=session["id"],
            state_delta={"temp:copass_dispatch_token": token},
        )
    ]
    (answer,) = function_responses(events)
    assert answer["is_error"] is True and "max_tool_rounds" in answer["output"]
    assert "end_turn" not in answer  # the router's signal is for the tool, not the model
    assert len(fresh_emulator.model_calls(engine)) - before == 1  # no model call after it
    assert PINGS == []
    result = await live
    assert result.stop_reason is StopReason.TOOL_LIMIT
