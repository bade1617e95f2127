"""Multi-turn: reusing the native session, new fingerprints, portable context across providers."""

from __future__ import annotations

from typing import Any

import anthropic
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Message, Router, StopReason, split_history

from .conftest import API_KEY


def history_sent(emulator: EmulatorServer) -> list[str]:
    """The texts of the history block in the latest ``user.message`` (none without a block)."""
    latest = emulator.state.sent_events("user.message")[-1]
    earlier, _ = split_history(latest["content"][0]["text"])
    return [m.text for m in earlier]


async def complete(router: Router, message: str, **fields: Any) -> tuple[str, list[Any]]:
    fields.setdefault("provider", "anthropic")
    events = [e async for e in router.run(message=message, **fields)]
    return "".join(e.text for e in events if isinstance(e, Message)), events


async def test_next_turn_reuses_the_native_session(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    _, first = await complete(anthropic_router, "remember pineapple", system="S")
    session_id = first[0].session_id
    text, second = await complete(anthropic_router, "/recall", system="S", session_id=session_id)
    assert text == "recall:\nuser: remember pineapple\nassistant: echo: remember pineapple"
    assert emulator.state.creates == {"agent": 1, "environment": 1, "session": 1}
    binding = await anthropic_router.store.get_binding(session_id, "anthropic")
    assert binding is not None and binding.synced_turns == 2
    assert binding.native_id in emulator.state.sessions
    assert second[-1].stop_reason is StopReason.END_TURN


async def test_prompt_change_makes_a_new_agent_and_carries_the_transcript(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    _, first = await complete(anthropic_router, "remember mango", system="old prompt")
    session_id = first[0].session_id
    text, _ = await complete(
        anthropic_router, "/recall", system="new prompt", session_id=session_id
    )
    assert emulator.state.creates == {"agent": 2, "environment": 1, "session": 2}
    agents = [r.body["system"] for r in emulator.state.requests_to("POST", "/v1/agents")]
    assert agents == ["old prompt", "new prompt"]
    # The new session got the missed turns as a history block before the message.
    assert text == "recall:\nuser: remember mango\nassistant: echo: remember mango"
    assert history_sent(emulator) == ["remember mango", "echo: remember mango"]
    # A third turn under the new prompt reuses the new session without repeating history.
    await complete(anthropic_router, "again", system="new prompt", session_id=session_id)
    assert emulator.state.creates["session"] == 2
    sent = emulator.state.sent_events("user.message")
    assert [len(m["content"]) for m in sent] == [1, 2, 1]


async def test_a_turn_after_another_provider_gets_the_missed_turns(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    _, first = await complete(anthropic_router, "first on anthropic")
    session_id = first[0].session_id
    _, on_echo = await complete(
        anthropic_router, "second on echo", provider="echo", session_id=session_id
    )
    assert on_echo[-1].stop_reason is StopReason.END_TURN
    text, _ = await complete(anthropic_router, "/recall", session_id=session_id)
    # Same native session (its own memory of turn 1) plus turn 2 as context.
    assert emulator.state.creates["session"] == 1
    assert text == (
        "recall:\nuser: first on anthropic\nassistant: echo: first on anthropic"
        "\nuser: second on echo\nassistant: echo: second on echo"
    )
    assert history_sent(emulator) == ["second on echo", "echo: second on echo"]


async def test_a_session_gone_at_the_provider_is_replaced(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    _, first = await complete(anthropic_router, "remember kiwi")
    session_id = first[0].session_id
    binding = await anthropic_router.store.get_binding(session_id, "anthropic")
    assert binding is not None
    async with anthropic.AsyncAnthropic(api_key=API_KEY, base_url=emulator.base_url) as client:
        await client.beta.sessions.delete(binding.native_id)
    text, events = await complete(anthropic_router, "/recall", session_id=session_id)
    assert events[-1].stop_reason is StopReason.END_TURN
    assert emulator.state.creates["session"] == 2
    assert text == "recall:\nuser: remember kiwi\nassistant: echo: remember kiwi"
    assert history_sent(emulator) == ["remember kiwi", "echo: remember kiwi"]
