"""Runs through the router on the google backend, the real client library against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_google.deploy import make_client, static_token_credentials
from copass_router_google.emulator import GoogleEmulator

from copass_router import (
    InvalidRequestError,
    Message,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
    tool,
)

#: How the history block in front of a message begins.
HEADER = "[copass-router history: "

CALLS: list[dict[str, Any]] = []


@tool
def lookup_order(order_id: str) -> str:
    """Find an order's status."""
    CALLS.append({"order_id": order_id})
    return f"order {order_id} shipped"


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_streamed_text_turn(run_google: Any, fresh_emulator: GoogleEmulator) -> None:
    events = await run_google("hello agent engine", end_user_id="u-1")
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "echo: hello agent engine"
    assert text_of(events) == "echo: hello agent engine"
    assert any(isinstance(e, Usage) and e.input_tokens > 0 for e in events)
    assert events[-1].stop_reason is StopReason.END_TURN
    (stream,) = fresh_emulator.requests_to("stream")
    assert stream.query == (("alt", "sse"),)
    assert stream.sent("authorization", "Bearer emulator-token")
    body = stream.body["input"]
    assert stream.body["classMethod"] == "async_stream_query"
    assert body["user_id"] == "u-1" and body["message"] == "hello agent engine"
    assert body["run_config"] == {"streaming_mode": "sse"}
    assert body["state_delta"]["temp:copass_dispatch_token"].startswith("cpt1.")
    assert "copass_dispatch_token" not in body["state_delta"]  # never stored in the session


async def test_tool_call_through_copass_dispatch_shows_once_with_the_real_name(
    run_google: Any, google_router: Router, fresh_emulator: GoogleEmulator
) -> None:
    CALLS.clear()
    events = await run_google('/tool lookup_order {"order_id": "A-17"}', tools=[lookup_order])
    calls = [e for e in events if isinstance(e, ToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(c.name, dict(c.arguments)) for c in calls] == [("lookup_order", {"order_id": "A-17"})]
    assert [(r.name, r.output, r.is_error) for r in results] == [
        ("lookup_order", "order A-17 shipped", False)
    ]
    assert CALLS == [{"order_id": "A-17"}]  # the real tool ran, in the router, once
    assert "copass_dispatch" not in repr(events)
    assert "lookup_order -> order A-17 shipped" in text_of(events)
    # The catalogue reached the agent through session state, and the model saw its schema.
    state = fresh_emulator.requests_to("stream")[0].body["input"]["state_delta"]
    assert state["copass_tools"][0]["name"] == "lookup_order"
    assert "order_id" in str(state["copass_tools"][0]["parameters"])


async def test_multi_turn_reuses_the_adk_session(
    run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    first = await run_google("my name is Ada")
    session_id = first[0].session_id
    second = await run_google("/recall", session_id=session_id)
    assert "user: my name is Ada" in text_of(second)
    creates = [
        r
        for r in fresh_emulator.requests_to("query")
        if r.body["classMethod"] == "async_create_session"
    ]
    assert len(creates) == 1
    streams = fresh_emulator.requests_to("stream")
    assert [s.body["input"]["session_id"] for s in streams] == [
        streams[0].body["input"]["session_id"]
    ] * 2
    assert HEADER not in streams[1].body["input"]["message"]  # nothing missed, nothing resent


async def test_two_end_users_are_isolated(run_google: Any, fresh_emulator: GoogleEmulator) -> None:
    await run_google("alice's secret is 1234", end_user_id="alice")
    bob = await run_google("/recall", end_user_id="bob")
    assert "1234" not in text_of(bob)
    streams = fresh_emulator.requests_to("stream")
    assert [s.body["input"]["user_id"] for s in streams] == ["alice", "bob"]
    assert streams[0].body["input"]["session_id"] != streams[1].body["input"]["session_id"]
    creates = [r.body["input"] for r in fresh_emulator.requests_to("query")]
    assert creates == [{"user_id": "alice"}, {"user_id": "bob"}]


async def test_portable_context_reaches_a_new_adk_session(
    google_router: Router, run_google: Any, fresh_emulator: GoogleEmulator
) -> None:
    first = [e async for e in google_router.run(provider="echo", message="planted on echo")]
    session_id = first[0].session_id
    recalled = await run_google("/recall", session_id=session_id)
    assert "user: planted on echo" in text_of(recalled)
    assert "assistant: echo: planted on echo" in text_of(recalled)
    message = fresh_emulator.requests_to("stream")[0].body["input"]["message"]
    assert message.startswith(HEADER) and message.endswith("\n\n/recall")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "reasoning_engine_id"),
        ({"reasoning_engine_id": "projects/x/reasoningEngines/1"}, "reasoning_engine_id"),
        ({"reasoning_engine_id": "bad id!"}, "reasoning_engine_id"),
        ({"reasoning_engine_id": "123", "location": "Bad_Location"}, "location"),
        ({"reasoning_engine_id": "123", "options": {"temperature": 1}}, "options"),
    ],
)
async def test_missing_or_malformed_engine_fails_before_any_request(
    google_router: Router, fresh_emulator: GoogleEmulator, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await google_router.complete(provider="google", message="hi", **fields)
    assert caught.value.field == field
    assert len(fresh_emulator.requests) == 0


async def test_unknown_engine_is_a_provider_error(
    google_router: Router, fresh_emulator: GoogleEmulator
) -> None:
    events = [
        e
        async for e in google_router.run(
            provider="google", message="hi", reasoning_engine_id="999", location="us-central1"
        )
    ]
    assert events[-1].stop_reason is StopReason.ERROR
    error = next(e for e in events if type(e).__name__ == "Error")
    assert "404" in error.message and "emulator-token" not in repr(events)


async def test_run_finishes_with_the_session(run_google: Any) -> None:
    events = await run_google("bye")
    assert isinstance(events[-1], RunFinished)
    assert events[-1].session_id == events[0].session_id


async def test_a_vanished_adk_session_is_replaced_with_the_whole_conversation(
    run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    first = await run_google("the code word is heron", end_user_id="carol")
    adk_session = fresh_emulator.requests_to("stream")[0].body["input"]["session_id"]
    client = make_client(
        project="emulated-project",
        location="us-central1",
        credentials=static_token_credentials("admin"),
        base_url=fresh_emulator.base_url,
    )
    runtime = client.runtimes.get(name=engine)  # deleted at Google (or its TTL ran out)
    await runtime.async_delete_session(user_id="carol", session_id=adk_session)
    again = await run_google("/recall", end_user_id="carol", session_id=first[0].session_id)
    assert again[-1].stop_reason is StopReason.END_TURN
    assert "user: the code word is heron" in text_of(again)
    streams = fresh_emulator.requests_to("stream")
    assert len(streams) == 3  # the first turn, the refused one, then the retry on a new session
    assert streams[2].body["input"]["session_id"] != adk_session
    assert streams[2].body["input"]["message"].startswith(HEADER)
