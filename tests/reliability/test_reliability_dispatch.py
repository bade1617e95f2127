"""Dispatch callbacks and the end of a run: a callback with a finished run's token is refused
and runs nothing, however the run ended; a tool still running when its run ends is stopped."""

from __future__ import annotations

import httpx
import pytest
from copass_router_google.contract import TEMP_TOKEN_STATE_KEY

from copass_router import DispatchAuthError, StopReason, TurnStatus

from .conftest import PROVIDERS, Rig, eventually

#: How the run whose token is replayed ended: its message and run() keywords.
ENDINGS = {
    "completed": ('/tool lookup {"key": "in-time"}', {}),
    "failed": ("/error internal the agent failed", {}),
    "timed_out": ("/slow 30 an answer that never comes", {"turn_timeout": 1.0}),
}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_callback_after_its_run_ended_is_refused_and_runs_nothing(
    rig: Rig, ending: str
) -> None:
    session, before = await rig.warm_up("google")
    message, extra = ENDINGS[ending]
    out = await rig.complete("google", message, session, **extra)
    assert out.stop_reason is (StopReason.END_TURN if ending == "completed" else StopReason.ERROR)
    # The token the agent was given for that run, as the emulator received it.
    stream = rig.emulators.google.requests_to("stream")[-1]
    token = stream.body["input"]["state_delta"][TEMP_TOKEN_STATE_KEY]
    ran = dict(rig.tools.ran)
    transcript = await rig.router.transcript(session, "reliant")

    with pytest.raises(DispatchAuthError, match="has ended") as refused:
        await rig.router.handle_dispatch(token, "lookup", {"key": "late"}, "late-1")
    assert refused.value.forbidden
    assert rig.router.dispatch_url
    body = {"token": token, "tool_name": "lookup", "arguments": {"key": "late"}, "call_id": "l2"}
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.post(rig.router.dispatch_url, json=body)
    assert answer.status_code == 403 and answer.json()["code"] == "dispatch_unauthorized"
    assert token not in answer.text

    assert rig.tools.ran == ran  # nothing ran
    assert await rig.router.transcript(session, "reliant") == transcript  # nothing recorded
    status = TurnStatus.COMPLETED if ending == "completed" else TurnStatus.FAILED
    await rig.assert_recovers("google", session, before, message, status)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_tool_still_running_when_its_run_times_out_is_stopped(
    rig: Rig, provider: str
) -> None:
    """Found by this suite on Google: a tool run by a dispatch callback went on after its run
    ended (until its own timeout), then reported into the dead turn."""
    session, before = await rig.warm_up(provider)
    stall = rig.tools.stall(timeout=30)  # longer than the turn may take
    message = '/tool stall {"reason": "r"}'
    out = await rig.complete(provider, message, session, tools=[stall], turn_timeout=1.0)
    assert [e.code for e in out.errors] == ["timeout"]
    assert out.stop_reason is StopReason.ERROR and out.finished.session_id == session
    assert rig.tools.ran["stall"] == 1
    assert await eventually(lambda: rig.tools.cancelled["stall"] == 1)
    await rig.assert_recovers(provider, session, before, message, TurnStatus.FAILED)
