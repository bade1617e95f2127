"""Refused requests: 429 with retry-after and 5xx bursts, inside and beyond the core's retries.

The fault hits the request that starts the model turn (Anthropic: sending the user message to
the session; Google: ``:streamQuery``; OpenAI: the chat completion). Inside the retry budget the
turn ends normally and the emulator saw every attempt; beyond it the run ends with a retryable
Error naming the status, then RunFinished(error). Either way the session goes on.
"""

from __future__ import annotations

import pytest

from copass_router import Retry, StopReason, TurnStatus

from .conftest import NETWORKED, RETRY_BUDGET, Rig


def _retry_counts(rig: Rig, provider: str) -> list[str]:
    """The SDK's own retry counter on each attempt (Google's client sends none). The core does
    the retrying, so each attempt is a fresh SDK request (counter 0)."""
    if provider == "google":
        return []
    return [
        r.headers.get("x-stainless-retry-count", "?") for r in rig.emulators.turn_requests(provider)
    ]


@pytest.mark.parametrize("provider", NETWORKED)
async def test_429_with_retry_after_is_retried_and_the_turn_completes(
    rig: Rig, provider: str
) -> None:
    session, before = await rig.warm_up(provider)
    rig.emulators.refuse(provider, 429, count=1, retry_after=0.2)
    message = "through the rate limit"
    out = await rig.complete(provider, message, session)
    assert out.stop_reason is StopReason.END_TURN and not out.errors
    assert out.text == f"echo: {message}"
    assert len(rig.emulators.turn_requests(provider)) == 2
    assert _retry_counts(rig, provider) in ([], ["0", "0"])
    assert [e.attempt for e in out.events if isinstance(e, Retry)] == [1]
    await rig.assert_recovers(provider, session, before, message, TurnStatus.COMPLETED)


@pytest.mark.parametrize("provider", NETWORKED)
async def test_a_5xx_burst_inside_the_retry_budget_is_absorbed(rig: Rig, provider: str) -> None:
    session, before = await rig.warm_up(provider)
    rig.emulators.refuse(provider, 503, count=RETRY_BUDGET)
    message = "through a short outage"
    out = await rig.complete(provider, message, session)
    assert out.stop_reason is StopReason.END_TURN and not out.errors
    assert out.text == f"echo: {message}"
    assert len(rig.emulators.turn_requests(provider)) == RETRY_BUDGET + 1
    assert _retry_counts(rig, provider) in ([], ["0", "0", "0"])
    assert [e.attempt for e in out.events if isinstance(e, Retry)] == [1, 2]
    await rig.assert_recovers(provider, session, before, message, TurnStatus.COMPLETED)


@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("provider", NETWORKED)
async def test_a_burst_beyond_the_retry_budget_is_a_retryable_error(
    rig: Rig, provider: str, status: int
) -> None:
    session, before = await rig.warm_up(provider)
    rig.emulators.refuse(provider, status, count=RETRY_BUDGET + 1, retry_after=0.05)
    message = f"through a longer {status} burst"
    out = await rig.complete(provider, message, session)
    (error,) = out.errors
    assert error.retryable and error.provider == provider
    assert str(status) in error.message  # the reason, not just "failed"
    assert out.events[-2] is error  # the Error comes right before RunFinished
    assert out.stop_reason is StopReason.ERROR and out.finished.session_id == session
    assert len(rig.emulators.turn_requests(provider)) == RETRY_BUDGET + 1
    await rig.assert_recovers(provider, session, before, message, TurnStatus.FAILED)
