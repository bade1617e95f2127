"""The dispatch callback: deployed agents run router tools with a run-scoped token."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from copass_router import Event, Message, StopReason, ToolCall, ToolResult, Turn
from copass_router.run._tokens import mint_token
from copass_router.testing import ScriptedPlugin

from .conftest import (
    KEY_ALPHA,
    SECRET,
    DeployedBackend,
    Hosted,
    ToolCounter,
    make_router,
    problem_of,
)


async def test_a_deployed_agents_callback_shows_the_real_tool_in_the_stream(
    hosted: Hosted,
) -> None:
    async with hosted.remote() as remote:
        result = await remote.complete(provider="deployed", message="/callback Oslo")
    (call,) = result.tool_calls
    (tool_result,) = result.tool_results
    assert (call.name, call.call_id, dict(call.arguments)) == (
        "lookup",
        "agent-call-1",
        {"city": "Oslo"},
    )
    assert (tool_result.name, tool_result.output) == ("lookup", "sunny in Oslo")
    assert result.text == "sunny in Oslo"
    assert hosted.counter.calls == [{"city": "Oslo"}]
    kinds = [e.type for e in result.events]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("message")


class LiveRun:
    """A ``/hold`` run on the deployed backend, streaming in the background."""

    def __init__(self, hosted: Hosted, **fields: Any) -> None:
        self.hosted = hosted
        self.fields = fields
        self.events: list[Event] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveRun:
        async def consume() -> None:
            async with self.hosted.remote() as remote:
                async for event in remote.run(
                    provider="deployed", message="/hold", end_user_id="u-1", **self.fields
                ):
                    self.events.append(event)

        self.task = asyncio.create_task(consume())
        async with asyncio.timeout(5):
            await self.hosted.deployed.live.wait()
        return self

    @property
    def turn(self) -> Turn:
        return self.hosted.deployed.turns[-1]

    def token(self, **changes: Any) -> str:
        claims: dict[str, Any] = {
            "run_id": self.turn.run_id,
            "session_id": self.turn.session_id,
            "end_user_id": self.turn.end_user_id,
            "tools": ["lookup"],
            "ttl": 60,
        }
        claims.update(changes)
        return mint_token(SECRET, **claims)

    async def call(
        self,
        token: str | None,
        tool_name: str = "lookup",
        call_id: str = "c-1",
        arguments: dict[str, Any] | None = None,
        round_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "tool_name": tool_name,
            "arguments": arguments or {"city": "Rome"},
            "call_id": call_id,
        }
        if round_id is not None:
            body["round"] = round_id
        if token is not None:
            body["token"] = token
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(self.hosted.url + "/v1/dispatch", json=body, headers=headers)

    async def finish(self) -> list[Event]:
        self.hosted.deployed.release.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        return self.events

    async def __aexit__(self, *exc: object) -> None:
        self.hosted.deployed.release.set()
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=5)


async def test_bad_tokens_are_refused_and_run_nothing(hosted: Hosted) -> None:
    async with LiveRun(hosted) as run:
        good = run.token()
        body, signature = good.removeprefix("cpt1.").split(".")
        refused = {
            "forged signature": (await run.call(f"cpt1.{body}.{signature[::-1]}"), 401),
            "other secret": (
                await run.call(
                    mint_token(
                        b"not-the-secret",
                        run_id=run.turn.run_id,
                        session_id=run.turn.session_id,
                        end_user_id=run.turn.end_user_id,
                        tools=["lookup"],
                        ttl=60,
                    )
                ),
                401,
            ),
            "expired": (await run.call(run.token(ttl=-5)), 401),
            "garbage": (await run.call("not-a-token"), 401),
            "api key": (await run.call(KEY_ALPHA), 401),
            "missing": (await run.call(None), 401),
            "wrong run": (await run.call(run.token(run_id="run_someone_else")), 403),
            "wrong session": (await run.call(run.token(session_id="ses_other")), 403),
        }
        # A good token naming a tool it does not allow: the tool never runs; the model gets an
        # error result, and the run's stream shows the call and its result, as in process.
        outside = await run.call(run.token(tools=[]), "lookup", call_id="c-outside")
        unknown = await run.call(good, "drop_database", call_id="c-unknown")
        events = await run.finish()
    for name, (response, status) in refused.items():
        assert response.status_code == status, name
        assert problem_of(response)["code"] == "dispatch_unauthorized", name
        assert KEY_ALPHA not in response.text and good not in response.text, name
    for response in (outside, unknown):
        assert response.status_code == 200 and response.json()["is_error"] is True
        assert response.json()["output"].startswith("unknown tool")
    assert hosted.counter.calls == []
    assert events[-1].type == "run_finished"
    shown = [(type(e).__name__, e.name) for e in events if isinstance(e, ToolCall | ToolResult)]
    assert sorted(shown) == sorted(
        [
            (kind, tool)
            for tool in ("lookup", "drop_database")
            for kind in ("ToolCall", "ToolResult")
        ]
    )


async def test_a_good_call_runs_through_the_live_run(hosted: Hosted) -> None:
    async with LiveRun(hosted) as run:
        response = await run.call(run.token())
        events = await run.finish()
    assert response.status_code == 200
    assert response.json() == {
        "call_id": "c-1",
        "tool_name": "lookup",
        "output": "sunny in Rome",
        "is_error": False,
    }
    calls = [e for e in events if isinstance(e, ToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(c.name, c.call_id) for c in calls] == [("lookup", "c-1")]
    assert [(r.name, r.output) for r in results] == [("lookup", "sunny in Rome")]


async def test_the_callers_trace_headers_reach_middleware_and_a_malformed_one_is_ignored(
    hosted: Hosted,
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with LiveRun(hosted) as run:
        token = run.token()
        sent = {"traceparent": traceparent, "tracestate": "vendor=opaque"}
        good = await run.call(token, call_id="traced", headers=sent)
        bad = await run.call(
            token, call_id="malformed", headers={"traceparent": "00-xyz-01", "tracestate": "v=1"}
        )
        events = await run.finish()
    assert (good.status_code, bad.status_code) == (200, 200)  # tracing never fails a call
    marks = {
        e.call_id: (e.provider_data or {})["copass_router"]
        for e in events
        if isinstance(e, ToolCall)
    }
    assert marks["traced"] == {"dispatch": "callback", "trace_context": sent}
    assert marks["malformed"] == {"dispatch": "callback"}


async def test_a_token_is_useless_once_its_run_has_ended(hosted: Hosted) -> None:
    async with LiveRun(hosted) as run:
        token = run.token()
        await run.finish()
        late = await run.call(token)
    assert late.status_code == 403
    assert hosted.counter.calls == []


async def test_a_repeated_call_id_runs_the_tool_once(hosted: Hosted) -> None:
    async with LiveRun(hosted) as run:
        token = run.token()
        first = await run.call(token, call_id="same")
        again = await asyncio.gather(*(run.call(token, call_id="same") for _ in range(3)))
        concurrent = await asyncio.gather(*(run.call(token, call_id="burst") for _ in range(4)))
        other_arguments = await run.call(token, call_id="same", arguments={"city": "Paris"})
        events = await run.finish()
    for response in (first, *again, *concurrent):
        assert response.status_code == 200
        assert response.json()["output"] == "sunny in Rome"
    assert other_arguments.status_code == 403
    assert hosted.counter.calls == [{"city": "Rome"}, {"city": "Rome"}]  # "same" once, "burst" once
    assert sorted(e.call_id for e in events if isinstance(e, ToolResult)) == ["burst", "same"]


async def test_the_token_may_come_as_a_bearer_credential(hosted: Hosted) -> None:
    async with LiveRun(hosted) as run:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                hosted.url + "/v1/dispatch",
                headers={"Authorization": f"Bearer {run.token()}"},
                json={"tool_name": "lookup", "arguments": {"city": "Lima"}, "call_id": "b-1"},
            )
        bad_body = await run.call(run.token(), call_id="")
        await run.finish()
    assert response.status_code == 200 and response.json()["output"] == "sunny in Lima"
    assert bad_body.status_code == 400 and problem_of(bad_body)["field"] == "call_id"


async def test_the_in_process_router_serves_dispatch_alone() -> None:
    counter, deployed = ToolCounter(), DeployedBackend()
    router = make_router(counter, ScriptedPlugin(deployed=deployed))
    server = await router.start_dispatch_server("127.0.0.1", 0)
    try:
        assert router.dispatch_url == server.url
        assert server.url == f"{server.base_url}/v1/dispatch"
        events = [e async for e in router.run(provider="deployed", message="/callback Quito")]
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            health = await http.get("/healthz")
            runs = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
    finally:
        await server.aclose()
        await router.aclose()
    assert [(e.name, e.output) for e in events if isinstance(e, ToolResult)] == [
        ("lookup", "sunny in Quito")
    ]
    assert [e.text for e in events if isinstance(e, Message)] == ["sunny in Quito"]
    assert counter.calls == [{"city": "Quito"}]
    assert health.status_code == 200
    assert runs.status_code == 404  # only the dispatch endpoint is served


async def test_the_standalone_server_reports_a_taken_port() -> None:
    router = make_router(ToolCounter())
    server = await router.start_dispatch_server("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            await router.start_dispatch_server("127.0.0.1", server.port)
    finally:
        await server.aclose()
        await router.aclose()


async def test_calls_past_max_tool_rounds_are_refused_and_end_the_turn(hosted: Hosted) -> None:
    async with LiveRun(hosted, max_tool_rounds=2) as run:
        token = run.token()
        parallel = await asyncio.gather(
            run.call(token, call_id="a", round_id="response-1"),
            run.call(token, call_id="b", round_id="response-1"),
        )  # one model response, one round
        alone = await run.call(token, call_id="c")  # no round given: a round of its own
        again = await run.call(token, call_id="c")  # a retry is not a new round
        past = await run.call(token, call_id="d", round_id="response-3")
        async with asyncio.timeout(5):  # the router ends the turn without the agent's help
            assert run.task is not None
            await run.task
    for response in (*parallel, alone, again):
        assert response.json()["is_error"] is False and "end_turn" not in response.json()
    assert past.status_code == 200
    assert past.json()["is_error"] is True and past.json()["end_turn"] is True
    assert "max_tool_rounds" in past.json()["output"]
    assert len(hosted.counter.calls) == 3  # d never ran
    assert sorted(e.call_id for e in run.events if isinstance(e, ToolResult)) == ["a", "b", "c"]
    assert run.events[-1].stop_reason is StopReason.TOOL_LIMIT
