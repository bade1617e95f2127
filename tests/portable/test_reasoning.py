"""Reasoning in the transcript: its own item, given back to the provider and model family that
produced it, dropped or summarised (as the router says) for any other."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from copass_router import (
    AssistantItem,
    ConfigurationError,
    ReasoningItem,
    Router,
    ThinkingMessage,
)
from copass_router._reasoning import model_family, portable_history
from copass_router.builtin.echo_backend import EchoBackend
from copass_router.testing import ScriptedBackend, ScriptedPlugin

SECRET = "reasoning: rewsna eht tuoba"  # what echo's /think reasons: the prompt reversed


def _router(make_router: Callable[..., Router], **kw: object) -> Router:
    # "other" is the scripted model under another provider name: another provider.
    return make_router(plugins=[ScriptedPlugin(other=EchoBackend())], **kw)


async def _think_then_recall(router: Router, provider: str, model: str | None = None) -> str:
    first = await router.complete(provider="echo", message="/think about the answer")
    assert [e.text for e in first.events if isinstance(e, ThinkingMessage)] == [SECRET]
    recall = await router.complete(
        provider=provider, model=model, message="/recall", session_id=first.session_id
    )
    return recall.text


async def test_reasoning_is_its_own_transcript_item(make_router: Callable[..., Router]) -> None:
    router = _router(make_router)
    result = await router.complete(provider="echo", message="/think it over")
    [turn] = await router.transcript(result.session_id, "local")
    assert turn.items == (
        ReasoningItem("reasoning: revo ti", "echo", "echo-1"),
        AssistantItem("I thought about: it over"),
    )
    assert turn.text == "I thought about: it over"  # reasoning is never answer text


async def test_the_same_provider_and_model_get_it_back(make_router: Callable[..., Router]) -> None:
    text = await _think_then_recall(_router(make_router), "echo")
    assert f"thought: {SECRET}\nassistant: I thought about: about the answer" in text


async def test_a_snapshot_of_the_same_model_is_the_same_family(
    make_router: Callable[..., Router],
) -> None:
    text = await _think_then_recall(_router(make_router), "echo", "echo-1-20260301")
    assert f"thought: {SECRET}" in text
    assert model_family("claude-opus-4-7-20260301") == "claude-opus-4-7"
    assert model_family("gpt-4.1-2025-04-14") == "gpt-4.1"


@pytest.mark.parametrize(("provider", "model"), [("other", None), ("echo", "echo-2")])
async def test_another_provider_or_model_family_never_sees_it_by_default(
    make_router: Callable[..., Router], provider: str, model: str | None
) -> None:
    text = await _think_then_recall(_router(make_router), provider, model)
    assert "I thought about: about the answer" in text
    assert "rewsna" not in text and "thought:" not in text


async def test_summarise_gives_another_provider_a_labelled_note(
    make_router: Callable[..., Router],
) -> None:
    text = await _think_then_recall(
        _router(make_router, reasoning_portability="summarise"), "other"
    )
    assert (
        "assistant: (Summary of the reasoning by echo/echo-1; it is not part of the answer: "
        f"{SECRET})\nassistant: I thought about: about the answer"
    ) in text
    assert "thought:" not in text


async def test_a_native_session_provider_gets_the_policy_in_its_history_too(
    make_router: Callable[..., Router],
) -> None:
    class Native(ScriptedBackend):
        keeps_native_session = True

    native = Native()
    router = make_router(plugins=[ScriptedPlugin(native=native)], reasoning_portability="summarise")
    first = await router.complete(provider="echo", message="/think deeply")
    await router.complete(provider="native", message="next", session_id=first.session_id)
    [turn] = native.turns
    [earlier] = turn.history
    assert [type(i).__name__ for i in earlier.items] == ["AssistantItem", "AssistantItem"]
    assert earlier.items[0].text.startswith("(Summary of the reasoning by echo/echo-1")  # type: ignore[union-attr]
    full = await turn.full_history()
    assert full[0].items == earlier.items


def test_the_policy_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="drop, summarise"):
        Router(load_entry_points=False, store=":memory:", reasoning_portability="keep")


def test_a_long_reasoning_is_cut_in_its_summary() -> None:
    from copass_router import TranscriptTurn

    turn = TranscriptTurn(0, "r", "a", "m", "hi", items=(ReasoningItem("x " * 2000, "a", "m"),))
    [kept] = portable_history([turn], "b", "m", "summarise")
    note = kept.items[0].text  # type: ignore[union-attr]
    assert note.endswith(" [...])") and len(note) < 1_100
    [dropped] = portable_history([turn], "b", "m")
    assert dropped.items == ()
    [own] = portable_history([turn], "a", "m")
    assert own is turn


async def test_the_environment_sets_the_policy(make_router: Callable[..., Router]) -> None:
    router = make_router(
        plugins=[ScriptedPlugin(other=EchoBackend())],
        environ={"COPASS_ROUTER_REASONING_PORTABILITY": "summarise"},
    )
    assert router.reasoning_portability == "summarise"
    assert "Summary of the reasoning by echo/echo-1" in await _think_then_recall(router, "other")
    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_REASONING_PORTABILITY"):
        make_router(environ={"COPASS_ROUTER_REASONING_PORTABILITY": "keep"})
