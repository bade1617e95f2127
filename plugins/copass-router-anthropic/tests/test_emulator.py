"""The emulator, driven by the raw anthropic SDK (and raw HTTP where the SDK hides the wire)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from copass_router_anthropic.emulator import EmulatorServer, running_emulator
from hypothesis import given
from hypothesis import strategies as st

from .conftest import API_KEY

TOOL = {
    "type": "custom",
    "name": "lookup",
    "description": "look a key up",
    "input_schema": {"type": "object", "properties": {"key": {"type": "string"}}},
}


def sdk(emu: EmulatorServer, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=API_KEY, base_url=emu.base_url, **options)


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with sdk(emulator) as made:
        yield made


async def new_session(client: anthropic.AsyncAnthropic, **agent: Any) -> str:
    made = await client.beta.agents.create(model="claude-sonnet-4-6", name="t", **agent)
    env = await client.beta.environments.create(name="e", config={"type": "cloud"})
    session = await client.beta.sessions.create(agent=made.id, environment_id=env.id)
    return session.id


async def turn(client: anthropic.AsyncAnthropic, session_id: str, text: str) -> list[Any]:
    """Open the stream, send ``text``, answer custom tools with "42", collect until idle."""
    events: list[Any] = []
    stream = await client.beta.sessions.events.stream(session_id, event_deltas=["agent.message"])
    message = {"type": "user.message", "content": [{"type": "text", "text": text}]}
    await client.beta.sessions.events.send(session_id, events=[message])  # type: ignore[list-item]
    async for event in stream:
        events.append(event)
        if event.type == "agent.custom_tool_use":
            result = {
                "type": "user.custom_tool_result",
                "custom_tool_use_id": event.id,
                "content": [{"type": "text", "text": "42"}],
            }
            await client.beta.sessions.events.send(session_id, events=[result])  # type: ignore[list-item]
        if event.type == "session.status_idle" and event.stop_reason.type != "requires_action":
            break
    await stream.close()
    return events


async def test_resources_have_the_shape_the_sdk_declares(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    agent = await client.beta.agents.create(
        model="claude-opus-4-7", name="a", system="be brief", tools=[TOOL]
    )
    assert agent.model.id == "claude-opus-4-7" and agent.version == 1
    assert agent.tools[0].type == "custom" and agent.execution_identity.type == "service_account"
    env = await client.beta.environments.create(name="e")
    assert env.config.type == "cloud" and env.config.networking.type == "unrestricted"
    session = await client.beta.sessions.create(
        agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=env.id
    )
    assert session.status == "idle" and session.agent.system == "be brief"
    assert (await client.beta.agents.retrieve(agent.id)).id == agent.id
    assert emulator.state.creates == {"agent": 1, "environment": 1, "session": 1}
    request = emulator.requests[0]
    assert request.sent("authorization", f"Bearer {API_KEY}")
    assert "managed-agents-2026-04-01" in request.headers["anthropic-beta"]
    assert request.body["tools"] == [TOOL]


async def test_streamed_turn_with_a_custom_tool(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    session_id = await new_session(client, tools=[TOOL])
    events = await turn(client, session_id, '/tool lookup {"key": "a"}')
    kinds = [e.type for e in events]
    assert kinds[:2] == ["user.message", "session.status_running"]
    use = next(e for e in events if e.type == "agent.custom_tool_use")
    assert use.name == "lookup" and use.input == {"key": "a"}
    idle = next(e for e in events if e.type == "session.status_idle")
    assert idle.stop_reason.type == "requires_action" and idle.stop_reason.event_ids == [use.id]
    deltas = [e.delta.content.text for e in events if e.type == "event_delta"]
    final = [e for e in events if e.type == "agent.message"][-1]
    assert "".join(deltas) == final.content[0].text == "tool results: lookup -> 42"
    usage = [e.model_usage for e in events if e.type == "span.model_request_end"]
    assert len(usage) == 2 and all(u.input_tokens > 0 for u in usage)
    stream_request = emulator.state.requests_to("GET", f"/v1/sessions/{session_id}/events/stream")
    assert stream_request[0].query == (("event_deltas[]", "agent.message"),)


async def test_sse_frames_carry_an_event_line(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    session_id = await new_session(client)
    headers = {"authorization": f"Bearer {API_KEY}", "anthropic-beta": "managed-agents-2026-04-01"}
    url = f"{emulator.base_url}/v1/sessions/{session_id}/events/stream"
    async with httpx.AsyncClient() as http, http.stream("GET", url, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        message = {"type": "user.message", "content": [{"type": "text", "text": "hi"}]}
        await client.beta.sessions.events.send(session_id, events=[message])  # type: ignore[list-item]
        lines: list[str] = []
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith("data: ") and '"session.status_idle"' in line:
                break
    frames = [ln for ln in lines if ln.startswith("event: ")]
    data = [ln for ln in lines if ln.startswith("data: ")]
    assert frames[0] == "event: user.message" and len(frames) == len(data)


async def test_auth_and_beta_header_are_enforced(emulator: EmulatorServer) -> None:
    wrong = anthropic.AsyncAnthropic(api_key="wrong", base_url=emulator.base_url)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await wrong.beta.agents.list()
    await wrong.close()
    assert caught.value.type == "authentication_error" and caught.value.request_id
    async with httpx.AsyncClient() as http:
        plain = await http.get(
            f"{emulator.base_url}/v1/agents", headers={"authorization": f"Bearer {API_KEY}"}
        )
    body = plain.json()
    assert plain.status_code == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and body["request_id"]


async def test_lists_paginate_with_a_cursor(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    session_id = await new_session(client)
    await turn(client, session_id, "one two three")
    page = await client.beta.sessions.events.list(session_id, limit=2)
    assert len(page.data) == 2 and page.next_page
    everything = [e async for e in client.beta.sessions.events.list(session_id, limit=2)]
    assert everything[0].type == "user.message"
    assert everything[-1].type == "session.status_idle"
    assert not any(e.type in ("event_start", "event_delta") for e in everything)
    only = [e async for e in client.beta.sessions.events.list(session_id, types=["agent.message"])]
    assert [e.type for e in only] == ["agent.message"]
    typed = emulator.state.requests_to("GET", f"/v1/sessions/{session_id}/events")[-1]
    assert ("types[]", "agent.message") in typed.query


async def test_create_limit_answers_429_with_retry_after() -> None:
    with running_emulator(create_limit=2, create_period=1.0) as emu:
        async with sdk(emu, max_retries=0) as client:
            await client.beta.agents.create(model="m", name="a")
            await client.beta.environments.create(name="e")
            with pytest.raises(anthropic.RateLimitError) as caught:
                await client.beta.agents.create(model="m", name="b")
            assert caught.value.response.headers["retry-after"] == "1"
            assert emu.state.rate_limited == 1 and emu.state.creates["agent"] == 1
            # The SDK's own retry honours retry-after and gets through once the window moves on.
            await client.with_options(max_retries=2).beta.agents.create(model="m", name="b")
            assert emu.state.creates["agent"] == 2


async def test_fail_rules_give_error_bodies_the_sdk_retries(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    emulator.faults.fail_next(503, count=1, method="POST", path="/v1/agents*")
    agent = await client.beta.agents.create(model="m", name="a")
    assert agent.id
    posts = emulator.state.requests_to("POST", "/v1/agents")
    assert [r.headers["x-stainless-retry-count"] for r in posts] == ["0", "1"]
    emulator.faults.fail_next(500, count=3, method="GET")
    with pytest.raises(anthropic.InternalServerError) as caught:
        await client.beta.agents.retrieve(agent.id)
    assert caught.value.type == "api_error"


async def test_interrupt_and_delete(
    emulator: EmulatorServer, client: anthropic.AsyncAnthropic
) -> None:
    session_id = await new_session(client)
    stream = await client.beta.sessions.events.stream(session_id, event_deltas=["agent.message"])
    message = {
        "type": "user.message",
        "content": [{"type": "text", "text": "/slow 0.05 a b c d e"}],
    }
    await client.beta.sessions.events.send(session_id, events=[message])  # type: ignore[list-item]
    kinds: list[str] = []
    async for event in stream:
        kinds.append(event.type)
        if event.type == "event_delta" and kinds.count("event_delta") == 1:
            await client.beta.sessions.events.send(
                session_id,
                events=[{"type": "user.interrupt"}],  # type: ignore[list-item]
            )
        if event.type == "session.status_idle":
            break
    assert emulator.state.interrupts == 1
    assert "agent.message" not in kinds and kinds.count("event_delta") < 5
    deleted = await client.beta.sessions.delete(session_id)
    assert deleted.type == "session_deleted"
    assert [e.type async for e in stream] == ["session.deleted"]
    with pytest.raises(anthropic.NotFoundError):
        await client.beta.sessions.retrieve(session_id)


@given(st.text(), st.integers(min_value=0, max_value=9), st.text(min_size=1, max_size=12))
def test_a_text_delta_frame_is_the_events_compact_json(
    text: str, index: int, event_id: str
) -> None:
    from copass_router_anthropic.emulator._frames import frame, text_delta_frames

    content = {"type": "text", "text": text}
    event = {
        "type": "event_delta",
        "event_id": event_id,
        "delta": {"type": "content_delta", "index": index, "content": content},
    }
    assert text_delta_frames(event_id, index)(text) == frame(event)
    assert (
        frame(event) == f"event: event_delta\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
    )
