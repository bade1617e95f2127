"""``POST /v1/agui``: AG-UI runs against a real hosted router, every event validated with the
official ``ag-ui-protocol`` types (``ag_ui.core``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from ag_ui.core import Event as AguiEvent
from ag_ui.core import (
    EventType,
    MessagesSnapshotEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    ToolCallArgsEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from pydantic import TypeAdapter

from .conftest import KEY_ALPHA, KEY_BETA, Hosted, parse_frames, wait_until

EVENTS: TypeAdapter[Any] = TypeAdapter(AguiEvent)


def run_input(thread: str, *texts: str, model: str = "echo/echo-1", **extra: Any) -> dict[str, Any]:
    """A RunAgentInput as a client sends it (camelCase), checked with the official type."""
    body = {
        "threadId": thread,
        "runId": f"client-run-{len(texts)}",
        "state": extra.pop("state", None),
        "messages": [
            {"id": f"m{n}", "role": "user", "content": text} for n, text in enumerate(texts)
        ],
        "tools": extra.pop("tools", []),
        "context": extra.pop("context", []),
        "forwardedProps": {"model": model, **extra},
    }
    RunAgentInput.model_validate(body)
    return body


async def post(hosted: Hosted, body: dict[str, Any], key: str = KEY_ALPHA) -> httpx.Response:
    async with hosted.http(key) as http:
        return await http.post("/v1/agui", json=body)


def events_of(answer: httpx.Response) -> tuple[list[Any], list[str]]:
    """The stream's events, each parsed with the official union, and the SSE ids."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in parse_frames(answer.text) if "data" in f]
    return [EVENTS.validate_python(json.loads(f["data"])) for f in frames], [
        f.get("id", "") for f in frames
    ]


async def test_a_run_streams_valid_agui_events(hosted: Hosted) -> None:
    events, ids = events_of(await post(hosted, run_input("t-1", "hello there")))
    kinds = [e.type for e in events]
    assert kinds[0] == EventType.RUN_STARTED and kinds[-1] == EventType.RUN_FINISHED
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStartedEvent) and isinstance(finished, RunFinishedEvent)
    assert (started.thread_id, started.run_id) == ("t-1", "client-run-1")
    assert isinstance(events[1], StateSnapshotEvent)
    assert events[1].snapshot["copassRouter"]["provider"] == "echo"
    assert kinds.count(EventType.TEXT_MESSAGE_START) == 1
    assert kinds.count(EventType.TEXT_MESSAGE_END) == 1
    text = "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
    assert text == "echo: hello there"
    assert finished.outcome is not None and finished.outcome.type == "success"
    assert finished.usage and finished.usage[0].output_tokens
    run_id = ids[0].rpartition(":")[0]
    assert ids == [f"{run_id}:{n}" for n in range(len(events))]


async def test_the_thread_is_a_router_session(hosted: Hosted) -> None:
    events_of(await post(hosted, run_input("t-2", "remember the lighthouse")))
    body = run_input("t-2", "remember the lighthouse", "/recall")
    events, _ = events_of(await post(hosted, body))
    text = "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
    assert "user: remember the lighthouse" in text
    router = events[1].snapshot["copassRouter"]
    first_session = router["sessionId"]
    again, _ = events_of(await post(hosted, run_input("t-2", "x", "y", "/whoami")))
    assert again[1].snapshot["copassRouter"]["sessionId"] == first_session


async def test_tool_calls_run_in_the_router_and_stream_with_their_result(hosted: Hosted) -> None:
    body = run_input(
        "t-3",
        '/tool lookup {"city": "Oslo"}',
        tools=[{"name": "lookup", "description": "weather", "parameters": {}}],
    )
    events, _ = events_of(await post(hosted, body))
    assert hosted.counter.calls == [{"city": "Oslo"}]
    start = next(e for e in events if isinstance(e, ToolCallStartEvent))
    args = next(e for e in events if isinstance(e, ToolCallArgsEvent))
    result = next(e for e in events if isinstance(e, ToolCallResultEvent))
    assert start.tool_call_name == "lookup"
    assert json.loads(args.delta) == {"city": "Oslo"}
    assert result.tool_call_id == start.tool_call_id and result.content == "sunny in Oslo"


async def test_reasoning_streams_as_reasoning_events(hosted: Hosted) -> None:
    events, _ = events_of(await post(hosted, run_input("t-4", "/think abc")))
    kinds = [e.type for e in events]
    for kind in (
        EventType.REASONING_START,
        EventType.REASONING_MESSAGE_START,
        EventType.REASONING_MESSAGE_CONTENT,
        EventType.REASONING_MESSAGE_END,
        EventType.REASONING_END,
    ):
        assert kind in kinds
    assert kinds.index(EventType.REASONING_END) < kinds.index(EventType.TEXT_MESSAGE_START)


async def test_a_failed_run_ends_in_run_error_with_the_neutral_code(hosted: Hosted) -> None:
    events, _ = events_of(await post(hosted, run_input("t-5", "/error overloaded busy")))
    assert isinstance(events[-1], RunErrorEvent)
    assert events[-1].code == "overloaded"


async def test_a_reload_answers_the_threads_messages(hosted: Hosted) -> None:
    events_of(await post(hosted, run_input("t-6", '/tool lookup {"city": "Rome"}')))
    reload = run_input("t-6")
    reload["messages"] = [{"id": "a1", "role": "assistant", "content": "old copy"}]
    events, _ = events_of(await post(hosted, reload))
    assert [e.type for e in events] == [
        EventType.RUN_STARTED,
        EventType.MESSAGES_SNAPSHOT,
        EventType.RUN_FINISHED,
    ]
    snapshot = events[1]
    assert isinstance(snapshot, MessagesSnapshotEvent)
    roles = [m.role for m in snapshot.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    calls: Any = snapshot.messages[1].tool_calls  # type: ignore[union-attr]
    assert calls[0].function.name == "lookup"
    assert snapshot.messages[2].content == "sunny in Rome"
    assert len(hosted.counter.calls) == 1  # a reload runs no turn


async def test_resume_by_event_id_replays_what_follows(hosted: Hosted) -> None:
    first, ids = events_of(await post(hosted, run_input("t-7", "a b c d")))
    run_id = ids[0].rpartition(":")[0]
    async with hosted.http() as http:
        answer = await http.get(
            f"/v1/agui/runs/{run_id}/events",
            params={"threadId": "t-7", "runId": "client-run-1"},
            headers={"Last-Event-ID": ids[3]},
        )
    rest, rest_ids = events_of(answer)
    assert rest_ids == ids[4:]
    assert [e.type for e in rest] == [e.type for e in first[4:]]
    async with hosted.http(KEY_BETA) as http:  # another tenant sees no such run
        assert (await http.get(f"/v1/agui/runs/{run_id}/events")).status_code == 404


async def test_bad_input_is_a_problem_naming_the_field(hosted: Hosted) -> None:
    body = run_input("t-8", "hi")
    del body["forwardedProps"]["model"]
    answer = await post(hosted, body)
    assert answer.status_code == 400 and answer.json()["field"] == "model"
    unknown_tool = run_input("t-8", "hi", tools=[{"name": "rm", "description": "x"}])
    answer = await post(hosted, unknown_tool)
    assert answer.status_code == 400 and answer.json()["field"] == "tools[0]"
    assert (await post(hosted, run_input("t-8", "hi"), key="nope-0123456789")).status_code == 401


async def test_threads_are_per_tenant(hosted: Hosted) -> None:
    events_of(await post(hosted, run_input("shared", "alpha's secret")))
    events, _ = events_of(await post(hosted, run_input("shared", "/recall"), key=KEY_BETA))
    text = "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
    assert "alpha's secret" not in text


async def test_cancel_ends_the_run_with_the_cancelled_outcome(hosted: Hosted) -> None:
    body = run_input("t-9", "/slow 1 a b c d e f g h")
    async with hosted.http() as http, http.stream("POST", "/v1/agui", json=body) as answer:
        run_id = answer.headers["x-copass-run-id"]
        cancelled = await http.post(f"/v1/agui/runs/{run_id}/cancel")
        assert cancelled.status_code == 202
        raw = (await answer.aread()).decode()
    frames = [f for f in parse_frames(raw) if "data" in f]
    last = EVENTS.validate_python(json.loads(frames[-1]["data"]))
    assert isinstance(last, RunFinishedEvent)
    assert last.outcome is not None and last.outcome.type == "cancelled"
    async with hosted.http() as http:
        again = await http.post(f"/v1/agui/runs/{run_id}/cancel")
    assert again.json() == {"runId": run_id, "status": "finished"}


async def test_on_disconnect_cancel_stops_the_run_when_the_client_leaves(hosted: Hosted) -> None:
    body = run_input("t-10", "/slow 1 a b c d e f g h", onDisconnect="cancel")
    async with hosted.http() as http, http.stream("POST", "/v1/agui", json=body) as answer:
        run_id = answer.headers["x-copass-run-id"]
    await wait_until(lambda: not hosted.state.runs)
    async with hosted.http() as http:
        replay = await http.get(f"/v1/agui/runs/{run_id}/events")
    events, _ = events_of(replay)
    assert isinstance(events[-1], RunFinishedEvent)
    assert events[-1].outcome is not None and events[-1].outcome.type == "cancelled"


async def test_a_thread_whose_session_was_deleted_starts_over(hosted: Hosted) -> None:
    first, _ = events_of(await post(hosted, run_input("t-11", "forget me")))
    session_id = first[1].snapshot["copassRouter"]["sessionId"]
    async with hosted.http() as http:
        assert (await http.delete(f"/v1/sessions/{session_id}")).status_code == 204
    events, _ = events_of(await post(hosted, run_input("t-11", "forget me", "/recall")))
    assert events[1].snapshot["copassRouter"]["sessionId"] != session_id
    text = "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
    assert "forget me" not in text


async def test_image_and_document_parts_reach_the_model(hosted: Hosted) -> None:
    from copass_router import FilePart, ImagePart
    from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

    image, document = ImagePart("image/png", SAMPLE_PNG), FilePart("application/pdf", SAMPLE_PDF)
    body = run_input("t-parts", "placeholder")
    body["messages"][0]["content"] = [
        {"type": "text", "text": "/parts"},
        {
            "type": "image",
            "source": {"type": "data", "value": image.base64, "mimeType": "image/png"},
        },
        {
            "type": "document",
            "source": {"type": "data", "value": document.base64, "mimeType": "application/pdf"},
        },
    ]
    RunAgentInput.model_validate(body)
    events, _ = events_of(await post(hosted, body))
    text = "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
    assert text == (
        f"parts: image image/png {image.sha256[:12]}; file application/pdf {document.sha256[:12]}"
    )
    body["messages"][0]["content"] = [
        {"type": "image", "source": {"type": "file", "value": "file-123"}}
    ]
    refused = await post(hosted, body)
    assert refused.status_code == 400 and "'file' source" in refused.text
