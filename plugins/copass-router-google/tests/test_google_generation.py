"""The run's generation settings reach the deployed agent's model config (real ADK, scripted
model), and an agent deployed before they travelled refuses them before any call."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_google.emulator import GoogleEmulator

from copass_router import InvalidRequestError, Message, Router, StopReason

PROJECT = "emulated-project"


def reply(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_settings_reach_the_model_config_and_do_not_outlive_their_turn(
    run_google: Any,
) -> None:
    first = await run_google("/settings", temperature=0.4, max_output_tokens=30, stop=["END"])
    assert reply(first) == 'temperature=0.4 max_output_tokens=30 stop=["END"]'
    # Session state persists between turns: the next turn's own (absent) settings must win.
    second = await run_google("/settings", session_id=first[0].session_id)
    assert reply(second) == "temperature=none max_output_tokens=none stop=none"
    cut = await run_google("/long 12", max_output_tokens=3, session_id=first[0].session_id)
    assert reply(cut) == "w1 w2 w3" and cut[-1].stop_reason is StopReason.MAX_TOKENS


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 0.2), ("max_output_tokens", 10), ("stop", "END")]
)
async def test_an_engine_without_the_contract_refuses_them_before_any_call(
    google_router: Router, fresh_emulator: GoogleEmulator, field: str, value: Any
) -> None:
    assert google_router.dispatch_url
    engine = fresh_emulator.add_engine(  # deployed by the version that took system and model
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
        env={"COPASS_ROUTER_AGENT_CONTRACT": "2"},
        legacy=True,
    )
    with pytest.raises(InvalidRequestError, match="redeploy the agent") as refused:
        await google_router.complete(
            provider="google", reasoning_engine_id=engine, message="/settings", **{field: value}
        )
    assert refused.value.field == field
    assert fresh_emulator.requests_to("stream") == []
    assert fresh_emulator.model_calls(engine) == []
