"""``/v1/responses`` driven by the official ``openai`` Python SDK, against a real hosted router.

Every response here is a run of the echo provider's scripted model, so what the SDK parses is
what the router's run produced: text, reasoning, tool calls the router ran, errors, usage.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFailedEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from copass_router import Message, StopReason
from copass_router.server import RunLimits
from copass_router.server._responses_request import ResponseId
from copass_router.server._run_log import RunLogLimits
from copass_router.server._run_log_memory import MemoryRunLog

from .conftest import KEY_ALPHA, KEY_BETA, Hosted, wait_until

# A tool entry that names a router tool: the SDK's types want a schema the router already has.
ROUTER_TOOL: Any = {"type": "function", "name": "lookup"}


def client(hosted: Hosted, key: str = KEY_ALPHA) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=hosted.url + "/v1", api_key=key, max_retries=0, timeout=10)


def text_of(response: Response) -> str:
    return response.output_text


async def collect(stream: Any) -> list[ResponseStreamEvent]:
    return [event async for event in stream]


async def test_create_returns_the_runs_reply_with_usage(hosted: Hosted) -> None:
    response = await client(hosted).responses.create(
        model="echo/echo-1", instructions="be brief", input="hello there"
    )
    assert response.status == "completed"
    assert text_of(response) == "echo: hello there"
    assert response.model == "echo/echo-1"
    assert response.instructions == "be brief"
    assert response.usage is not None
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + 3


async def test_the_instructions_reach_the_model(hosted: Hosted) -> None:
    response = await client(hosted).responses.create(
        model="echo/echo-7", instructions="You are terse.", input="/whoami"
    )
    assert text_of(response) == "model=echo-7 system=You are terse."


async def test_generation_settings_reach_the_model_and_the_response(hosted: Hosted) -> None:
    sdk = client(hosted)
    response = await sdk.responses.create(
        model="echo/echo-1", input="/settings", temperature=0.4, max_output_tokens=50
    )
    assert text_of(response) == "temperature=0.4 max_output_tokens=50 stop=none"
    assert response.temperature == 0.4 and response.max_output_tokens == 50
    cut = await sdk.responses.create(model="echo/echo-1", input="/long 9", max_output_tokens=2)
    assert text_of(cut) == "w1 w2" and cut.status == "incomplete"


async def test_stream_speaks_the_responses_event_grammar(hosted: Hosted) -> None:
    stream = await client(hosted).responses.create(  # pauses past the 0.2 s heartbeat
        model="echo/echo-1", input="/slow 0.3 one two three", stream=True
    )
    events = await collect(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]
    assert "".join(deltas) == "echo: one two three"
    assert kinds.index("response.output_item.added") < kinds.index("response.content_part.added")
    assert kinds.index("response.output_text.done") < kinds.index("response.output_item.done")
    final = events[-1]
    assert isinstance(final, ResponseCompletedEvent)
    assert final.response.output_text == "echo: one two three"
    assert final.response.id == events[0].response.id  # type: ignore[union-attr]


async def test_the_sdk_stream_helper_accumulates_the_response(hosted: Hosted) -> None:
    async with client(hosted).responses.stream(model="echo/echo-1", input="/think abc") as stream:
        async for _event in stream:
            pass
        final = await stream.get_final_response()
    kinds = [item.type for item in final.output]
    assert kinds == ["reasoning", "message"]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.content
    assert reasoning.content[0].text == "reasoning: cba"
    assert final.output_text.startswith("I thought about")


async def test_a_tool_call_runs_in_the_router_and_shows_as_a_server_call(hosted: Hosted) -> None:
    stream = await client(hosted).responses.create(
        model="echo/echo-1",
        input='/tool lookup {"city": "Oslo"}',
        tools=[ROUTER_TOOL],
        stream=True,
    )
    events = await collect(stream)
    assert hosted.counter.calls == [{"city": "Oslo"}]  # ran once, in the router
    kinds = [e.type for e in events]
    assert "response.mcp_call_arguments.done" in kinds
    assert "response.mcp_call.completed" in kinds
    final = events[-1]
    assert isinstance(final, ResponseCompletedEvent)
    call = final.response.output[0]
    assert call.type == "mcp_call"
    assert call.name == "lookup" and call.arguments == '{"city":"Oslo"}'
    assert call.output == "sunny in Oslo"
    assert final.response.output_text == "tool results: lookup -> sunny in Oslo"


async def test_tools_that_are_not_the_routers_are_refused(hosted: Hosted) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client(hosted).responses.create(
            model="echo/echo-1",
            input="hi",
            tools=[{"type": "function", "name": "delete_everything", "parameters": {}}],  # type: ignore[list-item]
        )
    body: Any = caught.value.body
    assert body["code"] == "invalid_request" and body["param"] == "tools[0]"


async def test_previous_response_id_continues_the_session_on_another_provider(
    hosted: Hosted,
) -> None:
    sdk = client(hosted)
    first = await sdk.responses.create(model="echo/echo-1", input="remember the lighthouse")
    hosted.scripted.enqueue(Message(text="noted"))
    second = await sdk.responses.create(
        model="scripted/scripted-1", input="and the harbour", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert text_of(second) == "noted"
    assert [t.user for t in hosted.scripted.turns[-1].history] == ["remember the lighthouse"]
    third = await sdk.responses.create(
        model="echo/echo-1", input="/recall", previous_response_id=second.id
    )
    recalled = text_of(third)
    assert "user: remember the lighthouse" in recalled
    assert "user: and the harbour" in recalled and "assistant: noted" in recalled


async def test_another_key_cannot_continue_or_read_a_response(hosted: Hosted) -> None:
    first = await client(hosted).responses.create(model="echo/echo-1", input="secret plans")
    with pytest.raises(openai.NotFoundError) as caught:
        await client(hosted, KEY_BETA).responses.create(
            model="echo/echo-1", input="/recall", previous_response_id=first.id
        )
    assert caught.value.body["code"] == "session_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client(hosted, KEY_BETA).responses.retrieve(first.id)


async def test_background_then_retrieve_and_resume_the_stream(hosted: Hosted) -> None:
    sdk = client(hosted)
    started = await sdk.responses.create(
        model="echo/echo-1", input="/slow 0.05 alpha beta gamma", background=True
    )
    assert started.status == "in_progress" and started.background
    live = await collect(await sdk.responses.retrieve(started.id, stream=True))
    assert live[-1].type == "response.completed"
    resumed = await collect(await sdk.responses.retrieve(started.id, stream=True, starting_after=3))
    assert [e.sequence_number for e in resumed] == list(range(4, len(live)))
    assert [e.type for e in resumed] == [e.type for e in live[4:]]
    done = await sdk.responses.retrieve(started.id)
    assert done.status == "completed"
    assert text_of(done) == "echo: alpha beta gamma"
    assert done.usage is not None and done.usage.output_tokens > 0


async def test_cancel_stops_a_background_response(hosted: Hosted) -> None:
    sdk = client(hosted)
    started = await sdk.responses.create(
        model="echo/echo-1", input="/slow 2 a b c d e f", background=True
    )
    cancelled = await sdk.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert (await sdk.responses.retrieve(started.id)).status == "cancelled"


async def test_a_provider_error_is_a_failed_response_with_the_neutral_code(
    hosted: Hosted,
) -> None:
    response = await client(hosted).responses.create(
        model="echo/echo-1", input="/error overloaded the model is busy"
    )
    assert response.status == "failed"
    assert response.error is not None
    assert str(response.error.code) == "overloaded"
    stream = await client(hosted).responses.create(
        model="echo/echo-1", input="/error overloaded busy", stream=True
    )
    events = await collect(stream)
    assert events[-1].type == "response.failed"


async def test_errors_before_the_run_use_the_responses_error_shape(hosted: Hosted) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await client(hosted, "wrong-key-0123456789").responses.create(
            model="echo/echo-1", input="hi"
        )
    assert caught.value.body["code"] == "unauthorized"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        await client(hosted).responses.create(model="echo", input="hi")
    assert bad.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError) as unknown:
        await client(hosted).responses.create(model="nope/x", input="hi")
    assert unknown.value.body["code"] == "unknown_provider"  # type: ignore[index]


async def test_an_alias_names_a_provider_and_model(start_hosted: Any) -> None:
    hosted = await start_hosted()
    hosted.router.environ["COPASS_ROUTER_MODEL_ALIASES"] = "quick=echo/echo-9"
    response = await client(hosted).responses.create(model="quick", input="/whoami")
    assert text_of(response).startswith("model=echo-9")
    assert response.model == "quick"


async def test_a_streaming_client_that_leaves_can_resume_by_sequence_number(
    hosted: Hosted,
) -> None:
    sdk = client(hosted)
    stream = await sdk.responses.create(
        model="echo/echo-1", input="/slow 0.05 a b c d", stream=True
    )
    seen = []
    async for event in stream:
        seen.append(event)
        if len(seen) == 4:
            break
    await stream.close()
    response_id = seen[0].response.id  # type: ignore[union-attr]
    rest = await collect(await sdk.responses.retrieve(response_id, stream=True, starting_after=3))
    assert rest[0].sequence_number == 4
    assert rest[-1].type == "response.completed"
    await wait_until(lambda: not hosted.state.runs)


async def test_raw_http_stream_frames_name_the_event(hosted: Hosted) -> None:
    async with httpx.AsyncClient(base_url=hosted.url, timeout=10) as http:
        answer = await http.post(
            "/v1/responses",
            headers={"Authorization": f"Bearer {KEY_ALPHA}"},
            json={"model": "echo/echo-1", "input": "hi", "stream": True},
        )
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.startswith("event: response.created\ndata: {")
    await asyncio.sleep(0)


async def test_the_per_key_run_limit_holds_across_endpoints(start_hosted: Any) -> None:
    hosted = await start_hosted(run_limits=RunLimits(max_runs=None, max_runs_per_key=1))
    sdk = client(hosted)
    held = await sdk.responses.create(model="echo/echo-1", input="/slow 1 a b c", background=True)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.responses.create(model="echo/echo-1", input="hi")
    assert caught.value.body["code"] == "rate_limited"  # type: ignore[index]
    async with hosted.http() as http:  # the same slots as /v1/runs
        refused = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
    assert refused.status_code == 429
    await sdk.responses.cancel(held.id)
    await wait_until(lambda: not hosted.state.runs)
    assert (await sdk.responses.create(model="echo/echo-1", input="hi")).status == "completed"


async def test_a_blocking_response_whose_client_leaves_is_cancelled(hosted: Hosted) -> None:
    body = {"model": "echo/echo-1", "input": "/slow 1 a b c d e f g h"}
    async with hosted.http() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/responses", json=body, timeout=0.5)
    await wait_until(lambda: not hosted.state.runs, seconds=4)  # not the 8 s the run takes
    (session,) = await hosted.router.list_sessions("alpha:local", 1)
    (turn,) = await hosted.router.transcript(session.session_id, "alpha:local")
    assert turn.stop_reason == StopReason.CANCELLED


async def test_a_stream_whose_events_were_dropped_still_ends_as_failed(start_hosted: Any) -> None:
    hosted = await start_hosted(run_log=MemoryRunLog(RunLogLimits(max_events=5)))
    sdk = client(hosted)
    started = await sdk.responses.create(model="echo/echo-1", input="/long 40", background=True)
    await wait_until(lambda: not hosted.state.runs)
    events = await collect(await sdk.responses.retrieve(started.id, stream=True))
    final = events[-1]
    assert isinstance(final, ResponseFailedEvent)
    assert final.response.error is not None
    assert str(final.response.error.code) == "run_log_trimmed"
    async with hosted.http() as http:  # AG-UI reads the same log the same way
        raw = await http.get(f"/v1/agui/runs/{hosted_run_id(started.id)}/events")
    assert '"type":"RUN_ERROR","message":' in raw.text and "run_log_trimmed" in raw.text


def hosted_run_id(response_id: str) -> str:
    named = ResponseId.decode(response_id)
    assert named is not None
    return named.run_id


async def test_once_the_log_expired_a_response_is_rebuilt_from_the_transcript(
    start_hosted: Any,
) -> None:
    hosted = await start_hosted(run_log=MemoryRunLog(RunLogLimits(retention=0, tombstone=0)))
    sdk = client(hosted)
    made = await sdk.responses.create(
        model="echo/echo-1", input='/tool lookup {"city": "Bern"}', user="u-9"
    )
    await wait_until(lambda: not hosted.state.runs)
    with pytest.raises(openai.NotFoundError):  # the events are gone: no stream
        await collect(
            await sdk.responses.retrieve(made.id, stream=True, extra_query={"user": "u-9"})
        )
    kept = await sdk.responses.retrieve(made.id, extra_query={"user": "u-9"})
    assert kept.status == "completed" and kept.id == made.id
    assert kept.output_text == made.output_text
    assert [item.type for item in kept.output] == [item.type for item in made.output]
    assert kept.usage == made.usage
    with pytest.raises(openai.NotFoundError):  # another end user of the key
        await sdk.responses.retrieve(made.id, extra_query={"user": "u-8"})
