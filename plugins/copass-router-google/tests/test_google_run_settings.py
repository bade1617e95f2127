"""The run's system prompt and model reach the deployed agent's model (real ADK, scripted model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from copass_router_google import deploy_adk_agent
from copass_router_google.deploy import static_token_credentials
from copass_router_google.emulator import GoogleEmulator

from copass_router import InvalidRequestError, Message, Router, RunStarted, StopReason, tool

PROJECT = "emulated-project"


@tool
def echo_back() -> str:
    """Answer back."""
    return "back"


def reply(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


def whoami(events: list[Any]) -> tuple[str, str]:
    """The model and system prompt ``/whoami`` reported."""
    text = reply(events)
    assert text.startswith("model="), text
    model, _, system = text.removeprefix("model=").partition(" system=")
    return model, system


async def test_run_system_and_model_reach_the_model(
    run_google: Any, engine: str, fresh_emulator: GoogleEmulator
) -> None:
    events = await run_google("/whoami", system="You answer as Flash.", model="gemini-3.1-flash")
    model, system = whoami(events)
    assert model == "gemini-3.1-flash"
    assert system.startswith("You answer as Flash.")
    assert "You are a support agent." not in system  # the deploy-time prompt is replaced
    assert "## Tools" in system  # the run's catalogue is still appended
    assert isinstance(events[0], RunStarted) and events[0].model == "gemini-3.1-flash"
    # What ADK actually called the model with, not only what it said.
    (call,) = fresh_emulator.model_calls(engine)
    assert call.model == "gemini-3.1-flash" and call.system.startswith("You answer as Flash.")


async def test_without_them_the_deploy_time_prompt_and_model_run(
    google_router: Router, fresh_emulator: GoogleEmulator
) -> None:
    assert google_router.dispatch_url
    engine = fresh_emulator.add_engine(
        system_prompt="Deployed prompt.",
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
        model="gemini-3.1-flash-lite",
    )
    events = [
        e
        async for e in google_router.run(
            provider="google", reasoning_engine_id=engine, message="/whoami"
        )
    ]
    model, system = whoami(events)
    assert (model, system.split("\n")[0]) == ("gemini-3.1-flash-lite", "Deployed prompt.")
    assert events[0].model == "gemini-3.1-flash-lite"  # RunStarted names the model that ran


async def test_a_later_turn_without_them_falls_back(run_google: Any, engine: str) -> None:
    first = await run_google("/whoami", system="Turn one only.", model="gemini-3.1-flash")
    assert whoami(first)[0] == "gemini-3.1-flash"
    second = await run_google("/whoami", session_id=first[0].session_id)
    model, system = whoami(second)
    assert model == "gemini-3.1-pro" and system.startswith("You are a support agent.")
    assert "Turn one only." not in system
    assert second[0].model == "gemini-3.1-pro"


async def test_a_per_run_system_with_braces_is_verbatim(run_google: Any) -> None:
    events = await run_google("/whoami", system="Reply in {json} with {user:name}.")
    assert whoami(events)[1].startswith("Reply in {json} with {user:name}.")


@pytest.mark.parametrize("field", ["system", "model"])
async def test_an_older_engine_refuses_them_before_any_model_call(
    google_router: Router, fresh_emulator: GoogleEmulator, field: str
) -> None:
    assert google_router.dispatch_url
    engine = fresh_emulator.add_engine(
        system_prompt="Old prompt.",
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
        legacy=True,
    )
    value = {"system": "New prompt.", "model": "gemini-3.1-flash"}[field]
    with pytest.raises(InvalidRequestError, match="older copass-router-google") as caught:
        await google_router.complete(
            provider="google", reasoning_engine_id=engine, message="/whoami", **{field: value}
        )
    assert caught.value.field == field
    assert fresh_emulator.requests_to("stream") == []
    assert fresh_emulator.model_calls(engine) == []


async def test_an_older_engine_still_runs_without_them(
    google_router: Router, fresh_emulator: GoogleEmulator
) -> None:
    assert google_router.dispatch_url
    engine = fresh_emulator.add_engine(
        system_prompt="Old prompt.",
        dispatch_url=google_router.dispatch_url,
        project=PROJECT,
        legacy=True,
    )
    events = [
        e
        async for e in google_router.run(
            provider="google", reasoning_engine_id=engine, message="/whoami"
        )
    ]
    assert events[-1].stop_reason is StopReason.END_TURN
    assert whoami(events)[0] == "gemini-3.1-pro" == events[0].model
    # Its proxy reads the token where it always did, so its tools still run.
    tooled = await google_router.complete(
        provider="google",
        reasoning_engine_id=engine,
        message="/tool echo_back {}",
        tools=[echo_back],
    )
    assert [(r.output, r.is_error) for r in tooled.tool_results] == [("back", False)]
    state = fresh_emulator.requests_to("stream")[-1].body["input"]["state_delta"]
    assert "copass_dispatch_token" in state and "temp:copass_dispatch_token" not in state


async def test_a_deployed_agent_records_its_contract_and_honours_them(
    google_router: Router,
    fresh_emulator: GoogleEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert google_router.dispatch_url
    name = deploy_adk_agent(
        "flash-agent",
        PROJECT,
        "Deployed prompt.",
        google_router.dispatch_url,
        model="gemini-3.1-flash",
        credentials=static_token_credentials("deployer"),
        base_url=fresh_emulator.base_url,
    )
    env = fresh_emulator.engines[name].env
    assert env["COPASS_ROUTER_AGENT_CONTRACT"] == "3"
    assert env["COPASS_ROUTER_AGENT_MODEL"] == "gemini-3.1-flash"
    plain = await google_router.complete(
        provider="google", reasoning_engine_id=name, message="/whoami"
    )
    assert plain.text.startswith("model=gemini-3.1-flash system=Deployed prompt.")
    override = await google_router.complete(
        provider="google",
        reasoning_engine_id=name,
        message="/whoami",
        system="Per run.",
        model="gemini-3.1-pro",
    )
    assert override.text.startswith("model=gemini-3.1-pro system=Per run.")
    assert [c.model for c in fresh_emulator.model_calls(name)] == [
        "gemini-3.1-flash",
        "gemini-3.1-pro",
    ]
