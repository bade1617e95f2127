"""Portable generation settings: checked by the core, honoured or refused by each provider."""

from __future__ import annotations

from typing import Any

import pytest

from copass_router import (
    GENERATION_FIELDS,
    Failover,
    GenerationSettings,
    InvalidRequestError,
    Message,
    ProviderError,
    RetryPolicy,
    Router,
    RunFinished,
    RunRequest,
    StopReason,
)
from copass_router.testing import ScriptedBackend, ScriptedPlugin


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def _events(router: Router, **fields: Any) -> list[Any]:
    return [e async for e in router.run(**fields)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"max_output_tokens": 1.5}, "max_output_tokens"),
        ({"max_output_tokens": True}, "max_output_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"stop": [1]}, "stop"),
        ({"stop": {"a": 1}}, "stop"),
        ({"stop": ["\ud800"]}, "stop"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(
    router: Router, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await _events(router, provider="echo", message="hi", **fields)
    assert refused.value.field == field
    assert await router.list_sessions() == [], "nothing half-done"


def test_one_stop_string_is_one_sequence() -> None:
    request = RunRequest(provider="echo", message="hi", stop="END")
    assert request.stop == ("END",)
    assert GenerationSettings.of(request).given() == ("stop",)
    assert GenerationSettings().given() == ()


async def test_echo_reports_and_honours_the_settings(router: Router) -> None:
    events = await _events(
        router,
        provider="echo",
        message="/settings",
        temperature=0.5,
        max_output_tokens=64,
        stop=["XX", "YY"],
    )
    assert _text(events) == 'temperature=0.5 max_output_tokens=64 stop=["XX", "YY"]'
    cut = await _events(router, provider="echo", message="/long 20", max_output_tokens=3)
    assert _text(cut) == "w1 w2 w3"
    assert cut[-1].stop_reason is StopReason.MAX_TOKENS
    stopped = await _events(router, provider="echo", message="alpha beta XX gamma", stop="XX")
    assert _text(stopped) == "echo: alpha beta "
    assert stopped[-1].stop_reason is StopReason.END_TURN
    plain = await _events(router, provider="echo", message="/settings")
    assert _text(plain) == "temperature=none max_output_tokens=none stop=none"


async def test_a_provider_without_the_setting_refuses_it_before_the_run(
    make_router: Any,
) -> None:
    scripted = ScriptedBackend()
    router = make_router(plugins=[ScriptedPlugin(plain=scripted)])
    with pytest.raises(InvalidRequestError) as refused:
        await _events(router, provider="plain", message="hi", max_output_tokens=10)
    message = str(refused.value)
    assert refused.value.field == "max_output_tokens"
    assert "provider 'plain' has no equivalent of 'max_output_tokens'" in message
    assert "it takes no generation settings" in message
    assert "docs/portable-context.md" in message
    assert scripted.turns == [] and await router.list_sessions() == []


async def test_a_fallback_without_the_setting_refuses_the_run(make_router: Any) -> None:
    router = make_router(plugins=[ScriptedPlugin(plain=ScriptedBackend())])
    with pytest.raises(InvalidRequestError) as refused:
        await _events(
            router,
            provider="echo",
            message="hi",
            temperature=0.3,
            fallbacks=[{"provider": "plain"}],
        )
    assert refused.value.field == "fallbacks[0].temperature"
    assert "'plain' has no equivalent of 'temperature'" in str(refused.value)


async def test_settings_reach_the_backend_on_the_turn(make_router: Any) -> None:
    class Sampling(ScriptedBackend):
        generation_settings = frozenset({"temperature", "stop"})

    scripted = Sampling()
    router = make_router(plugins=[ScriptedPlugin(sampling=scripted)])
    events = await _events(router, provider="sampling", message="hi", temperature=1, stop="Q")
    assert isinstance(events[-1], RunFinished)
    assert scripted.turns[0].generation == GenerationSettings(1, None, ("Q",))


async def test_the_settings_go_on_to_the_fallback_that_takes_over(make_router: Any) -> None:
    class Sampling(ScriptedBackend):
        generation_settings = frozenset(GENERATION_FIELDS)

    primary = Sampling()
    primary.enqueue(raises=ProviderError("down", provider="primary", status=503))
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary)], retry_policy=RetryPolicy(max_retries=0)
    )
    events = await _events(
        router,
        provider="primary",
        message="/settings",
        temperature=0.7,
        stop="END",
        fallbacks=[{"provider": "echo"}],
    )
    assert any(isinstance(e, Failover) for e in events)
    assert _text(events) == 'temperature=0.7 max_output_tokens=none stop=["END"]'
    assert events[-1].stop_reason is StopReason.END_TURN
