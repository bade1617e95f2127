"""A hosted run waiting for approval: the client may leave, list what waits, decide it by
endpoint, and resume the stream to the end."""

from __future__ import annotations

from copass_router import (
    ApprovalRequest,
    ApprovalRequested,
    RunFinished,
    RunStarted,
    ToolResult,
)

from .conftest import Hosted, frame_events, problem_of


async def test_a_hosted_run_is_approved_by_endpoint_across_a_reconnect(hosted: Hosted) -> None:
    hosted.router.approvals.patterns = ("lookup",)
    body = {"provider": "echo", "message": '/tool lookup {"city": "Oslo"}', "end_user_id": "u-1"}
    async with hosted.http() as http:
        async with http.stream("POST", "/v1/runs", json=body) as response:
            run_id = response.headers["x-copass-run-id"]
            raw = ""
            async for chunk in response.aiter_text():
                raw += chunk
                if "event: approval_requested" in raw and raw.endswith("\n\n"):
                    break  # the client goes away while the call waits
        (asked,) = [e for e in frame_events(raw) if isinstance(e, ApprovalRequested)]
        where = f"/v1/runs/{run_id}/approvals"
        listed = (await http.get(f"{where}?end_user_id=u-1")).json()
        (waiting,) = listed["pending"]
        assert waiting == {
            "call_id": asked.call_id,
            "name": "lookup",
            "arguments": {"city": "Oslo"},
            "session_id": waiting["session_id"],
            "provider": "echo",
        }
        assert waiting["session_id"].startswith("ses_")
        other_user = await http.post(
            f"{where}/{asked.call_id}?end_user_id=u-2", json={"approved": True}
        )
        assert other_user.status_code == 404
        bad = await http.post(f"{where}/{asked.call_id}?end_user_id=u-1", json={"approved": "yes"})
        assert bad.status_code == 400 and problem_of(bad)["field"] == "approved"
        ok = await http.post(f"{where}/{asked.call_id}?end_user_id=u-1", json={"approved": True})
        assert ok.status_code == 200 and ok.json()["approved"] is True
        again = await http.post(
            f"{where}/{asked.call_id}?end_user_id=u-1", json={"approved": False}
        )
        assert again.status_code == 409
        resumed = await http.get(f"/v1/runs/{run_id}/events?end_user_id=u-1")
    events = frame_events(resumed.text)
    assert [e.name for e in events if isinstance(e, ApprovalRequested)] == ["lookup"]
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.output == "sunny in Oslo" and not result.is_error
    assert isinstance(events[-1], RunFinished)
    assert hosted.counter.calls == [{"city": "Oslo"}]


async def test_a_remote_router_decides_and_narrows_like_a_local_one(hosted: Hosted) -> None:
    hosted.router.approvals.patterns = ("lookup",)
    async with hosted.remote() as remote:
        events = []
        async for event in remote.run(
            provider="echo",
            message='/tool lookup {"city": "Rome"}',
            end_user_id="u-3",
            allowed_tools=["look*"],
        ):
            events.append(event)
            if isinstance(event, ApprovalRequested):
                (started,) = [e for e in events if isinstance(e, RunStarted)]
                (waiting,) = await remote.pending_approvals(event.run_id, end_user_id="u-3")
                assert waiting == ApprovalRequest(
                    run_id=event.run_id,
                    session_id=started.session_id,
                    end_user_id="u-3",
                    provider="echo",
                    call_id=event.call_id,
                    name="lookup",
                    arguments={"city": "Rome"},
                )
                assert await remote.deny(event.run_id, event.call_id, "not Rome", end_user_id="u-3")
                assert await remote.pending_approvals(event.run_id, end_user_id="u-3") == []
                assert not await remote.approve(event.run_id, event.call_id, end_user_id="u-3")
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert result.is_error and "not Rome" in result.output
    assert hosted.counter.calls == []


async def test_a_hosted_run_keeps_its_tool_selection_on_the_session(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        kept = await remote.complete(
            provider="echo",
            message="hi",
            end_user_id="u-5",
            allowed_tools=["look*"],
            keep_allowed_tools=True,
        )
    binding = await hosted.router.store.get_binding(kept.session_id, "@allowed_tools")
    assert binding is not None and binding.data["allowed_tools"] == ["look*"]
    body = {"provider": "echo", "message": "hi", "endUserId": "u-5", "keepAllowedTools": True}
    async with hosted.http() as http:
        refused = await http.post("/v1/runs", json=body)
    assert refused.status_code == 400
    assert problem_of(refused)["field"] == "keep_allowed_tools"
