"""The deployed agent's side: tokens, sessions of other users, and a deploy-then-run round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from copass_router_google import deploy_adk_agent
from copass_router_google.deploy import make_client, static_token_credentials
from copass_router_google.emulator import GoogleEmulator
from google.genai import errors as genai_errors

from copass_router import Message, Router, ToolCall, ToolResult, tool

RAN: list[str] = []
CLIENTS: list[Any] = []  # a Client closes its connections when collected; keep them alive


@tool
def refund(order_id: str) -> str:
    """Refund an order."""
    RAN.append(order_id)
    return f"refunded {order_id}"


def runtime_for(emulator: GoogleEmulator, name: str) -> Any:
    project, location = name.split("/")[1], name.split("/")[3]
    client = make_client(
        project=project,
        location=location,
        credentials=static_token_credentials("agent-side"),
        base_url=emulator.base_url,
    )
    CLIENTS.append(client)
    return client.runtimes.get(name=name)


async def stream(runtime: Any, **fields: Any) -> list[dict[str, Any]]:
    return [e async for e in runtime.async_stream_query(**fields)]


def responses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        part["function_response"]["response"]
        for event in events
        for part in (event.get("content") or {}).get("parts", [])
        if "function_response" in part
    ]


async def test_a_forged_token_is_refused_by_the_router(
    google_router: Router, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    RAN.clear()
    runtime = runtime_for(fresh_emulator, engine)
    session = await runtime.async_create_session(user_id="mallory")
    events = await stream(
        runtime,
        message='/tool refund {"order_id": "X-1"}',
        user_id="mallory",
        session_id=session["id"],
        state_delta={"copass_dispatch_token": "cpt1.eyJydW4iOiJ4In0.forged-signature"},
    )
    (answer,) = responses(events)
    assert answer["is_error"] is True and "refused" in answer["output"]
    assert "signature" in answer["output"]  # the router's own reason, passed on as data
    assert RAN == []  # the tool never ran


async def test_a_token_of_a_finished_run_is_refused(
    google_router: Router, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    RAN.clear()
    await google_router.complete(
        provider="google", reasoning_engine_id=engine, message="hi", tools=[refund]
    )
    token = fresh_emulator.requests_to("stream")[0].body["input"]["state_delta"][
        "temp:copass_dispatch_token"
    ]
    runtime = runtime_for(fresh_emulator, engine)
    session = await runtime.async_create_session(user_id="local")
    events = await stream(
        runtime,
        message='/tool refund {"order_id": "X-2"}',
        user_id="local",
        session_id=session["id"],
        state_delta={"copass_dispatch_token": token},
    )
    (answer,) = responses(events)
    assert answer["is_error"] is True and "ended" in answer["output"]
    assert RAN == []


async def test_another_users_session_is_refused(
    engine: str, fresh_emulator: GoogleEmulator
) -> None:
    runtime = runtime_for(fresh_emulator, engine)
    alice = await runtime.async_create_session(user_id="alice")
    with pytest.raises(genai_errors.ClientError) as caught:
        await stream(runtime, message="hi", user_id="bob", session_id=alice["id"])
    assert caught.value.code == 400 and "does not belong" in str(caught.value)


async def test_deploy_then_run_a_tool_end_to_end(
    google_router: Router,
    fresh_emulator: GoogleEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    RAN.clear()
    monkeypatch.chdir(tmp_path)
    assert google_router.dispatch_url
    name = deploy_adk_agent(
        "refund-agent",
        "emulated-project",
        "You issue refunds.",
        google_router.dispatch_url,
        credentials=static_token_credentials("deployer"),
        base_url=fresh_emulator.base_url,
    )
    events = [
        e
        async for e in google_router.run(
            provider="google",
            reasoning_engine_id=name.rsplit("/", 1)[-1],  # the short id, project from env
            message='/tool refund {"order_id": "R-9"}',
            tools=[refund],
        )
    ]
    assert [(e.name, dict(e.arguments)) for e in events if isinstance(e, ToolCall)] == [
        ("refund", {"order_id": "R-9"})
    ]
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["refunded R-9"]
    assert RAN == ["R-9"]
    assert "refund -> refunded R-9" in "".join(e.text for e in events if isinstance(e, Message))
