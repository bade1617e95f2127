"""The contract the core keeps for every provider: fields, options, settings, retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from copass_router import (
    ConfigurationError,
    Error,
    InvalidRequestError,
    ProviderError,
    Retry,
    RetryPolicy,
    Router,
    StopReason,
    TextDelta,
    env_float,
    env_int,
    hookimpl,
)
from copass_router.testing import ScriptedBackend, ScriptedPlugin, scripted_events

FAST = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.01)


def _limited(**extra: Any) -> ProviderError:
    return ProviderError("slow down", provider="scripted", status=429, **extra)


async def _run(router: Router, **fields: Any) -> list[Any]:
    fields.setdefault("provider", "scripted")
    fields.setdefault("message", "hi")
    return [e async for e in router.run(**fields)]


@pytest.fixture
def fast_router(make_router: Callable[..., Router], scripted_backend: ScriptedBackend) -> Router:
    return make_router(plugins=[ScriptedPlugin(scripted=scripted_backend)], retry_policy=FAST)


async def test_a_retryable_error_before_output_is_retried_and_announced(
    fast_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(raises=_limited())
    scripted_backend.enqueue(raises=_limited(retry_after=0.002))
    scripted_backend.enqueue(*scripted_events(["third time lucky"]))
    events = await _run(fast_router)
    retries = [e for e in events if isinstance(e, Retry)]
    assert [(r.attempt, r.code) for r in retries] == [(1, "rate_limited"), (2, "rate_limited")]
    assert retries[1].delay == 0.002  # the provider's retry-after, not the backoff
    assert not [e for e in events if isinstance(e, Error)]
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_retries_stop_at_the_policy_bound(
    fast_router: Router, scripted_backend: ScriptedBackend
) -> None:
    for _ in range(3):
        scripted_backend.enqueue(raises=_limited())
    events = await _run(fast_router)
    assert len([e for e in events if isinstance(e, Retry)]) == 2
    (error,) = [e for e in events if isinstance(e, Error)]
    assert (error.code, error.retryable) == ("rate_limited", True)
    assert events[-1].stop_reason is StopReason.ERROR


async def test_an_error_after_output_is_not_retried(
    fast_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(TextDelta(text="half an answer"), raises=_limited())
    events = await _run(fast_router)
    assert not [e for e in events if isinstance(e, Retry)]
    assert [e.code for e in events if isinstance(e, Error)] == ["rate_limited"]


async def test_a_non_retryable_error_is_not_retried(
    fast_router: Router, scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.enqueue(raises=ProviderError("bad key", provider="scripted", status=401))
    events = await _run(fast_router)
    assert not [e for e in events if isinstance(e, Retry)]
    assert [e.code for e in events if isinstance(e, Error)] == ["authentication_failed"]


def test_a_provider_code_becomes_neutral_and_is_kept_in_detail() -> None:
    error = ProviderError("x", provider="p", status=400, code="billing_hard_limit")
    assert error.code == "invalid_request" and not error.retryable
    assert error.detail["provider_code"] == "billing_hard_limit"
    assert ProviderError("x", provider="p", code="overloaded").retryable


class _FieldsPlugin:
    @staticmethod
    @hookimpl
    def copass_router_register_backends(register: Any) -> None:
        register("engine-ish", lambda ctx: ScriptedBackend(), fields=("reasoning_engine_id",))


async def test_a_field_another_provider_uses_is_ignored_one_nobody_uses_is_refused(
    make_router: Callable[..., Router],
) -> None:
    alone = make_router()
    with pytest.raises(InvalidRequestError) as refused:
        await _run(alone, provider="echo", reasoning_engine_id="e-1")
    assert refused.value.field == "reasoning_engine_id"
    assert "no installed provider uses 'reasoning_engine_id'" in str(refused.value)
    swap = make_router(plugins=[_FieldsPlugin()])
    events = await _run(swap, provider="echo", reasoning_engine_id="e-1")
    assert events[-1].stop_reason is StopReason.END_TURN
    with pytest.raises(InvalidRequestError):  # location: still nobody's field
        await _run(swap, provider="echo", location="us-central1")


async def test_options_are_checked_against_what_the_backend_declares(
    make_router: Callable[..., Router],
) -> None:
    router = make_router()
    with pytest.raises(InvalidRequestError) as refused:
        await _run(router, provider="echo", options={"temperature": 0.2})
    assert "does not take option(s) temperature" in str(refused.value)
    assert "its options: none" in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("two", "ANTHROPIC_MAX_RETRIES must be a whole number of at least 0, not 'two'"),
        ("-1", "ANTHROPIC_MAX_RETRIES must be a number of at least 0, not -1"),
    ],
)
def test_a_bad_setting_is_a_configuration_error_naming_it(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as bad:
        env_int({"ANTHROPIC_MAX_RETRIES": raw}, "ANTHROPIC_MAX_RETRIES", 0)
    assert str(bad.value) == message


def test_settings_default_when_unset_and_parse_when_set() -> None:
    assert env_int({}, "X", 3) == 3
    assert env_float({"X": " 1.5 "}, "X", 0.0) == 1.5
    with pytest.raises(ConfigurationError):
        env_float({"X": "nan"}, "X", 0.0)


async def test_the_router_reads_its_retry_count_from_the_environment(
    make_router: Callable[..., Router],
) -> None:
    assert make_router(environ={"COPASS_ROUTER_MAX_RETRIES": "0"}).retry_policy.max_retries == 0
    with pytest.raises(ConfigurationError):
        make_router(environ={"COPASS_ROUTER_MAX_RETRIES": "lots"})
