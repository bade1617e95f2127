"""Deep values end the turn with an error event, never a cut stream.

Before the fix, tool-call arguments nested about 350 deep (2 KB) raised RecursionError while
the event was serialised: the stream was cut mid-chunk with no ``run_finished``, the turn stayed
``running`` in the store, and nothing was logged. Values from every source are checked here: a
model's tool-call arguments, a tool's result, a backend's ``provider_data``, a request's options.
"""

from __future__ import annotations

import json
from typing import Any

from copass_router import (
    Error,
    Event,
    Message,
    RunFinished,
    StopReason,
    TextDelta,
    ToolCall,
    ToolResult,
    TurnStatus,
    tool,
)
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from .conftest import Served, make_router, problem_of, sse_events

DEPTH = 400


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def deep_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


async def _run(router: Any, **fields: Any) -> list[Event]:
    return [e async for e in router.run(**fields)]


def _assert_clean_failure(events: list[Event]) -> Error:
    error = next(e for e in events if isinstance(e, Error))
    assert error.code == "payload_too_large" and "deeper than" in error.message
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.ERROR
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    return error


async def test_deep_tool_arguments_from_a_model_end_the_turn_cleanly() -> None:
    async with make_router() as router:
        events = await _run(router, provider="echo", message=f"/tool lookup {deep_json(350)}")
        _assert_clean_failure(events)
        (turn,) = await router.transcript(events[0].session_id, "local")  # type: ignore[attr-defined]
    assert turn.status is TurnStatus.FAILED  # recorded, not left running
    assert not any(isinstance(e, ToolCall) for e in events)


async def test_deep_provider_data_ends_the_turn_cleanly() -> None:
    scripted = ScriptedBackend()
    scripted.enqueue(
        TextDelta(text="partial "),
        Message(text="x", provider_data={"scripted": nested(DEPTH)}),
        TextDelta(text="never sent"),
    )
    async with make_router(ScriptedPlugin(scripted=scripted)) as router:
        events = await _run(router, provider="scripted", message="hi")
        _assert_clean_failure(events)
        (turn,) = await router.transcript(events[0].session_id, "local")  # type: ignore[attr-defined]
    assert turn.status is TurnStatus.FAILED and turn.text == "partial "
    assert scripted.cancelled == 1  # the backend's turn was closed, not left running


async def test_deep_error_detail_ends_the_turn_cleanly() -> None:
    scripted = ScriptedBackend()
    scripted.enqueue(Error(code="provider_error", message="m", detail={"d": nested(DEPTH)}))
    async with make_router(ScriptedPlugin(scripted=scripted)) as router:
        events = await _run(router, provider="scripted", message="hi")
    _assert_clean_failure(events)


async def test_a_tool_returning_a_deep_value_gives_the_model_an_error_result() -> None:
    @tool
    def deep() -> Any:
        """Return something absurdly nested."""
        return nested(5000)

    async with make_router(tools=[deep]) as router:
        events = await _run(router, provider="echo", message="/tool deep {}")
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.is_error and "not JSON" in result.output
    assert isinstance(events[-1], RunFinished) and events[-1].stop_reason is StopReason.END_TURN


async def test_a_hosted_stream_with_deep_tool_arguments_still_ends_with_run_finished(
    served: Served,
) -> None:
    message = f"/tool lookup {deep_json(350)}"
    async with served.http() as http:
        response = await http.post("/v1/runs", json={"provider": "echo", "message": message})
    events = sse_events(response.text)
    assert [e["type"] for e in events][-2:] == ["error", "run_finished"]
    assert events[-2]["code"] == "payload_too_large"
    (turn,) = await served.router.transcript(events[0]["session_id"], "alpha:local")
    assert turn.status is TurnStatus.FAILED


async def test_deep_request_values_are_a_400_naming_the_field(served: Served) -> None:
    body = {"provider": "echo", "message": "hi", "options": nested(100)}
    async with served.http() as http:
        run = await http.post("/v1/runs", content=json.dumps(body))
        dispatch = await http.post(
            "/v1/dispatch",
            content=json.dumps({"tool_name": "t", "call_id": "c", "arguments": nested(100)}),
            headers={"Authorization": ""},
        )
    assert run.status_code == 400 and problem_of(run)["field"] == "options"
    assert dispatch.status_code == 400 and problem_of(dispatch)["field"] == "arguments"


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text for this")


async def test_an_event_that_cannot_be_encoded_ends_the_stream_cleanly(served: Served) -> None:
    served.scripted.enqueue(
        TextDelta(text="a "),
        TextDelta(text="b", provider_data={"scripted": Unprintable()}),
        TextDelta(text="c"),
        delay=0.05,
    )
    async with served.http() as http:
        response = await http.post("/v1/runs", json={"provider": "scripted", "message": "hi"})
    events = sse_events(response.text)
    assert [e["type"] for e in events] == ["run_started", "text_delta", "error", "run_finished"]
    assert events[-2]["code"] == "internal_error" and "no text" not in response.text
