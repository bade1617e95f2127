"""``gemini-agents`` on managed agents: one agent per configuration fingerprint, made through the
core's resource cache, its interactions in the background; the real SDK against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import copass_router_google
import pytest

from copass_router import ConfigurationError, Event, Message, Router, StopReason, ToolResult, tool

PROVIDER = "gemini-agents"
BASE_AGENT = "antigravity-preview-05-2026"


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value-{key}"


@pytest.fixture
def agent_router(
    make_router: Callable[..., Router], gemini_env: dict[str, str]
) -> Callable[..., Router]:
    def factory(**settings: Any) -> Router:
        return make_router(
            plugins=[copass_router_google],
            environ={**gemini_env, "COPASS_GEMINI_AGENTS_ARCHIVE_AFTER": "0.05"},
            provider_settings={PROVIDER: {"agent": BASE_AGENT, **settings}},
        )

    return factory


async def run(router: Router, message: str, **kw: Any) -> list[Event]:
    kw.setdefault("end_user_id", "u-1")
    return [e async for e in router.run(provider=PROVIDER, message=message, **kw)]


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_a_turn_runs_on_an_agent_made_for_its_configuration(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    router = agent_router(builtin_tools=["code_execution"])
    events = await run(router, "/whoami", system="You are agent X.", model="gemini-2.5-pro")
    assert "model=gemini-2.5-pro system=You are agent X." in text(events)
    [agent] = interactions_emu.agents.agents.values()
    assert agent["id"].startswith("copass-") and agent["base_agent"] == BASE_AGENT
    assert agent["agent_config"] == {"type": "antigravity", "model": "gemini-2.5-pro"}
    assert agent["tools"] == [{"type": "code_execution"}]
    [body] = interactions_emu.create_bodies()
    assert body["agent"] == agent["id"] and body["background"] is True
    assert "model" not in body and "system_instruction" not in body


async def test_router_tools_run_in_the_router_on_an_agent(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    events = await run(agent_router(), '/tool lookup {"key": "a1"}', tools=[lookup])
    assert [r.output for r in events if isinstance(r, ToolResult)] == ["value-a1"]
    assert "tool results: lookup -> value-a1" in text(events)
    first, second = interactions_emu.create_bodies()
    assert second["previous_interaction_id"] and second["input"][0]["type"] == "function_result"


async def test_concurrent_cold_runs_create_the_agent_once(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    router = agent_router()
    results = await asyncio.gather(*(run(router, f"hello {n}") for n in range(5)))
    assert all(r[-1].stop_reason is StopReason.END_TURN for r in results)  # type: ignore[attr-defined]
    assert interactions_emu.agents.created == 1


async def test_a_new_prompt_is_a_new_agent_and_the_session_keeps_its_memory(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    router = agent_router()
    first = await run(router, "remember plum", system="Prompt one.")
    session_id = first[0].session_id  # type: ignore[attr-defined]
    second = await run(router, "/recall", system="Prompt two.", session_id=session_id)
    assert interactions_emu.agents.created == 2
    assert "user: remember plum" in text(second)
    # A chain is never continued on another agent: the new one gets the transcript as steps.
    assert "previous_interaction_id" not in interactions_emu.create_bodies()[-1]


async def test_an_agent_gone_provider_side_is_made_anew(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    router = agent_router()
    first = await run(router, "remember pear")
    interactions_emu.agents.agents.clear()
    session_id = first[0].session_id  # type: ignore[attr-defined]
    again = await run(router, "/recall", session_id=session_id)
    assert again[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]
    assert interactions_emu.agents.created == 2
    assert "user: remember pear" in text(again)


async def test_unused_agents_are_deleted_by_the_sweep(
    agent_router: Callable[..., Router], interactions_emu: Any
) -> None:
    router = agent_router()
    await run(router, "hello")
    backend: Any = await router.backend(PROVIDER)
    await asyncio.sleep(0.1)
    assert await backend.resources.sweep() == 1
    assert interactions_emu.agents.agents == {}


async def test_only_agents_that_take_a_model_and_tools(
    make_router: Callable[..., Router], gemini_env: dict[str, str]
) -> None:
    router = make_router(
        plugins=[copass_router_google],
        environ={**gemini_env, "COPASS_GEMINI_AGENTS_AGENT": "deep-research-preview-04-2026"},
    )
    with pytest.raises(ConfigurationError, match="antigravity"):
        await run(router, "hello")
