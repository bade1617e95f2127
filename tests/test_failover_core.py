"""Failover in the core, with scripted backends: what moves, what stays, what stops it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from copass_router import (
    AssistantItem,
    Error,
    Event,
    Failover,
    FailoverPolicy,
    ProviderError,
    RetryPolicy,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    ToolContext,
    TurnStatus,
    Usage,
    hookimpl,
)
from copass_router.run._failover import CONTINUE_MESSAGE
from copass_router.testing import ScriptedBackend, ScriptedPlugin


def _router(make_router: Callable[..., Router], primary: ScriptedBackend, **kw: object) -> Router:
    return make_router(
        plugins=[ScriptedPlugin(primary=primary)],
        retry_policy=RetryPolicy(max_retries=0),
        **kw,
    )


def _down() -> ProviderError:
    return ProviderError("down", provider="primary", status=503)


async def test_text_streamed_before_a_mid_turn_failure_reaches_the_next_provider(
    make_router: Callable[..., Router],
) -> None:
    primary, second = ScriptedBackend(), ScriptedBackend()
    primary.enqueue(TextDelta(text="half an "), TextDelta(text="answer"), raises=_down())
    second.enqueue(TextDelta(text=" and the rest"))
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary, second=second)],
        retry_policy=RetryPolicy(max_retries=0),
    )
    first = await router.complete(provider="echo", message="earlier")
    result = await router.complete(
        provider="primary",
        message="the question",
        session_id=first.session_id,
        fallbacks=[{"provider": "second"}],
    )
    assert result.stop_reason is StopReason.END_TURN
    [turn] = second.turns
    assert turn.message == CONTINUE_MESSAGE
    assert [t.user for t in turn.history] == ["earlier", "the question"]
    assert turn.history[-1].items == (AssistantItem("half an answer"),)
    assert [t.user for t in await turn.full_history()] == ["earlier", "the question"]
    recorded = (await router.transcript(result.session_id, "local"))[-1]
    assert (recorded.provider, recorded.user) == ("second", "the question")
    assert recorded.text == "half an answer\n\n and the rest"


async def test_a_policy_without_mid_turn_codes_ends_the_turn_after_output(
    make_router: Callable[..., Router],
) -> None:
    primary = ScriptedBackend()
    primary.enqueue(TextDelta(text="partial"), raises=_down())
    router = _router(make_router, primary, failover=FailoverPolicy(mid_turn=frozenset()))
    result = await router.complete(
        provider="primary", message="hi", fallbacks=[{"provider": "echo"}]
    )
    assert result.stop_reason is StopReason.ERROR
    assert [e.code for e in result.events if isinstance(e, Error)] == ["overloaded"]
    assert not [e for e in result.events if isinstance(e, Failover)]


async def test_fallbacks_are_tried_in_order_until_one_finishes(
    make_router: Callable[..., Router],
) -> None:
    primary, second = ScriptedBackend(), ScriptedBackend()
    primary.enqueue(raises=_down())
    second.enqueue(raises=ProviderError("busy", provider="second", status=429))
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary, second=second)],
        retry_policy=RetryPolicy(max_retries=0),
    )
    result = await router.complete(
        provider="primary",
        message="hi",
        fallbacks=[{"provider": "second"}, {"provider": "echo", "model": "echo-9"}],
    )
    hops = [
        (e.from_provider, e.to_provider, e.code) for e in result.events if isinstance(e, Failover)
    ]
    assert hops == [("primary", "second", "overloaded"), ("second", "echo", "rate_limited")]
    finished = result.events[-1]
    assert isinstance(finished, RunFinished)
    assert (finished.provider, finished.model, finished.stop_reason) == (
        "echo",
        "echo-9",
        StopReason.END_TURN,
    )
    assert [e.seq for e in result.events] == list(range(len(result.events)))


class Seen:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def copass_router_process_event(self, event: Event, context: ToolContext) -> Event:
        self.events.append(event)
        return event


async def test_middleware_sees_every_attempt_including_the_error_the_failover_replaces(
    make_router: Callable[..., Router],
) -> None:
    primary, seen = ScriptedBackend(), Seen()
    primary.enqueue(Usage(input_tokens=7, output_tokens=0), raises=_down())
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary), seen], retry_policy=RetryPolicy(max_retries=0)
    )
    result = await router.complete(
        provider="primary", message="hi", fallbacks=[{"provider": "echo"}]
    )
    kinds = [type(e).__name__ for e in seen.events]
    assert kinds[:4] == ["RunStarted", "Usage", "Error", "Failover"]
    assert kinds[-1] == "RunFinished"
    error, notice = seen.events[2], seen.events[3]
    assert notice.seq == error.seq, "the consumer sees the Failover in the error's place"
    assert [type(e).__name__ for e in result.events][:3] == ["RunStarted", "Usage", "Failover"]
    assert result.events[-1].usage.input_tokens > 7  # type: ignore[attr-defined]
    rows = await router.usage()
    assert {(r.provider, r.calls) for r in rows} == {("primary", 1), ("echo", 1)}


async def test_breaking_out_during_a_failover_closes_both_attempts(
    make_router: Callable[..., Router],
) -> None:
    primary, second = ScriptedBackend(), ScriptedBackend()
    primary.enqueue(raises=_down())
    second.enqueue(TextDelta(text="slow"), hang=True)
    router = make_router(
        plugins=[ScriptedPlugin(primary=primary, second=second)],
        retry_policy=RetryPolicy(max_retries=0),
    )
    stream = router.run(provider="primary", message="hi", fallbacks=[{"provider": "second"}])
    async with contextlib.aclosing(stream) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    assert second.cancelled == 1 and primary.cancelled == 1
    [session] = await router.list_sessions()
    [turn] = await router.transcript(session.session_id, "local")
    assert turn.status is TurnStatus.CANCELLED and turn.provider == "second"
