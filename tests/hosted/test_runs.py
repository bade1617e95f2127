"""Runs over the wire: the same events as in-process, SSE framing, heartbeats, cancellation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from copass_router import (
    Error,
    Event,
    Message,
    ProviderError,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnStatus,
    UnknownEvent,
    Usage,
    event_to_dict,
)
from copass_router.client._remote_router import RemoteRouter, RemoteRouterError
from copass_router.server import start_server
from copass_router.server._sse import encode_event

from .conftest import (
    KEY_ALPHA,
    Hosted,
    ToolCounter,
    frame_events,
    make_router,
    parse_frames,
    wait_until,
)

CONVERSATION = ["hello there", '/tool lookup {"city": "Oslo"}', "/recall", "/think about it"]


def comparable(events: list[Event]) -> list[dict[str, Any]]:
    """Events without what differs between two runs of one conversation (ids)."""
    out = []
    for event in events:
        data = event_to_dict(event)
        data.pop("run_id")
        data.pop("session_id", None)
        out.append(data)
    return out


async def converse(router: Any) -> list[list[Event]]:
    session_id = None
    turns = []
    for message in CONVERSATION:
        events = [
            e
            async for e in router.run(
                provider="echo", message=message, session_id=session_id, end_user_id="u-1"
            )
        ]
        session_id = events[0].session_id
        turns.append(events)
    return turns


async def test_remote_conversation_equals_in_process(hosted: Hosted) -> None:
    local_router = make_router(ToolCounter())
    try:
        local = await converse(local_router)
    finally:
        await local_router.aclose()
    async with hosted.remote() as remote:
        remote_turns = await converse(remote)
    assert [comparable(t) for t in remote_turns] == [comparable(t) for t in local]
    # Not vacuous: the conversation streamed text, ran a tool on the server and remembered.
    flat = [e for t in remote_turns for e in t]
    assert any(isinstance(e, ToolResult) and e.output == "sunny in Oslo" for e in flat)
    recalled = [e for e in remote_turns[2] if isinstance(e, Message)]
    assert "user: hello there" in recalled[0].text
    assert all(
        isinstance(t[0], RunStarted) and isinstance(t[-1], RunFinished) for t in remote_turns
    )
    assert len({t[0].session_id for t in remote_turns}) == 1


async def test_events_are_the_same_classes_with_ids(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        result = await remote.complete(provider="echo", message="hi you")
    assert result.text == "echo: hi you"
    assert result.stop_reason is StopReason.END_TURN
    assert [e.seq for e in result.events] == list(range(len(result.events)))
    assert {e.run_id for e in result.events} == {result.run_id}
    assert isinstance(result.events[1], TextDelta)


async def test_sse_frames_on_the_wire(hosted: Hosted) -> None:
    async with hosted.http() as http:
        response = await http.post("/v1/runs", json={"provider": "echo", "message": "a b"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    frames = [f for f in parse_frames(response.text) if "data" in f]
    events = frame_events(response.text)
    run_id = events[0].run_id
    assert response.headers["x-copass-run-id"] == run_id
    assert response.headers["x-copass-session-id"] == events[0].session_id
    for frame, event in zip(frames, events, strict=True):
        assert frame["event"] == event.type
        assert frame["id"] == str(event.seq)
        assert "\n" not in frame["data"]
    assert events[0].type == "run_started"
    assert events[-1].type == "run_finished"


async def test_heartbeats_while_the_turn_is_quiet(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted = await start_hosted(heartbeat=0.05)
    async with hosted.http() as http:
        response = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "/slow 0.25 quiet"}
        )
    frames = parse_frames(response.text)
    assert any(f.get("comment") == "ping" for f in frames)
    assert frame_events(response.text)[-1].type == "run_finished"


async def test_remote_client_skips_heartbeats(
    start_hosted: Callable[..., Awaitable[Hosted]],
) -> None:
    hosted = await start_hosted(heartbeat=0.05)
    async with hosted.remote() as remote:
        events = [e async for e in remote.run(provider="echo", message="/slow 0.2 x")]
    assert not any(isinstance(e, UnknownEvent) for e in events)
    assert isinstance(events[-1], RunFinished)


async def test_breaking_out_cancels_the_backend_turn(hosted: Hosted) -> None:
    hosted.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with hosted.remote() as remote:
        stream = remote.run(provider="scripted", message="go", end_user_id="u-1")
        async with contextlib.aclosing(stream):
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
    session_id = hosted.scripted.turns[0].session_id
    await wait_until(lambda: hosted.scripted.cancelled == 1)
    await wait_until(lambda: len(hosted.state.runs) == 0)
    turns = await hosted.router.transcript(session_id, "alpha:u-1")
    assert turns[-1].status is TurnStatus.CANCELLED
    assert turns[-1].stop_reason is StopReason.CANCELLED
    assert hosted.scripted.finished == 0


async def test_disconnect_with_the_cancel_policy_cancels_the_backend_turn(
    hosted: Hosted,
) -> None:
    hosted.scripted.enqueue(TextDelta(text="first"), hang=True)
    async with hosted.http() as http:
        request = http.build_request(
            "POST",
            "/v1/runs",
            json={"provider": "scripted", "message": "go", "on_disconnect": "cancel"},
        )
        response = await http.send(request, stream=True)
        async for line in response.aiter_lines():
            if line.startswith("event: text_delta"):
                break
        await response.aclose()
    await wait_until(lambda: hosted.scripted.cancelled == 1)
    # The session is free again: the next turn on it runs.
    session_id = hosted.scripted.turns[0].session_id
    hosted.scripted.enqueue(TextDelta(text="again"))
    async with hosted.remote() as remote:
        result = await remote.complete(provider="scripted", message="go", session_id=session_id)
    assert result.stop_reason is StopReason.END_TURN


async def test_errors_after_the_stream_starts_are_events(hosted: Hosted) -> None:
    hosted.scripted.enqueue(
        TextDelta(text="partial"),
        raises=ProviderError("overloaded", provider="scripted", status=529),
    )
    async with hosted.remote() as remote:
        result = await remote.complete(provider="scripted", message="go")
        scripted_error = await remote.complete(provider="echo", message="/error rate_limited slow")
    assert result.stop_reason is StopReason.ERROR
    (error,) = result.errors
    assert (error.code, error.retryable, error.provider) == ("overloaded", True, "scripted")
    assert error.detail == {"status": 529}
    assert isinstance(result.events[-1], RunFinished)
    assert [e.code for e in scripted_error.errors] == ["rate_limited"]
    assert scripted_error.stop_reason is StopReason.ERROR


async def test_unknown_event_types_reach_the_client(hosted: Hosted) -> None:
    hosted.scripted.enqueue(UnknownEvent(event_type="future_thing", data={"x": 1}))
    async with hosted.remote() as remote:
        result = await remote.complete(provider="scripted", message="go")
    (unknown,) = [e for e in result.events if isinstance(e, UnknownEvent)]
    assert unknown.event_type == "future_thing"
    assert unknown.data["x"] == 1


async def test_tool_events_carry_the_real_tool(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        result = await remote.complete(provider="echo", message='/tool lookup {"city": "Rome"}')
    (call,) = [e for e in result.events if isinstance(e, ToolCall)]
    assert call.name == "lookup" and call.arguments == {"city": "Rome"}
    assert hosted.counter.calls == [{"city": "Rome"}]


async def test_connection_lost_mid_run_ends_the_stream() -> None:
    started = RunStarted(run_id="run_x", seq=0, session_id="ses_x", provider="echo", model="m")
    delta = TextDelta(run_id="run_x", seq=1, text="half")
    usage = Usage(run_id="run_x", seq=2, input_tokens=3, output_tokens=1)

    async def cut_stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for event in (started, delta, usage):
                yield encode_event(event)

        return StreamingResponse(body(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/runs", cut_stream, methods=["POST"])])
    async with await start_server(app) as server, RemoteRouter(server.base_url) as remote:
        events = [e async for e in remote.run(provider="echo", message="hi")]
    assert [e.type for e in events] == [
        "run_started",
        "text_delta",
        "usage",
        "error",
        "run_finished",
    ]
    error, finished = events[-2:]
    assert isinstance(error, Error) and error.code == "connection_lost" and error.retryable
    assert isinstance(finished, RunFinished)
    assert (finished.stop_reason, finished.session_id) == (StopReason.ERROR, "ses_x")
    assert finished.usage.input_tokens == 3
    assert [e.seq for e in events] == [0, 1, 2, 3, 4]


async def test_unreachable_router_raises_before_any_event() -> None:
    async with RemoteRouter("http://127.0.0.1:9", KEY_ALPHA, timeout=2) as remote:
        with pytest.raises(RemoteRouterError) as caught:
            await remote.run(provider="echo", message="hi").__anext__()
    assert caught.value.code == "router_unreachable"
    assert caught.value.retryable
