"""Context windows in the core: each backend's declared limits, the check before any call, and
compaction by the default or by a plugin's ``copass_router_compact_history``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from copass_router import (
    AssistantItem,
    ConfigurationError,
    ContextCompacted,
    ErrorCode,
    Router,
    StopReason,
    TranscriptTurn,
    Turn,
    hookimpl,
)
from copass_router._context_window import context_limit
from copass_router.builtin.echo_backend import EchoBackend


class SmallEcho(EchoBackend):
    """The scripted model with a small window, as a switch to a small model would meet."""

    context_windows: ClassVar[dict[str, int]] = {"small-1": 120, "small-2": 60}
    default_context_window: ClassVar[int | None] = 90


class SmallPlugin:
    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        register("small", lambda context: SmallEcho(), description="a small window")


def _router(make_router: Callable[..., Router], *plugins: object, **kw: Any) -> Router:
    return make_router(plugins=[SmallPlugin(), *plugins], **kw)


async def _long_session(router: Router) -> str:
    first = await router.complete(provider="echo", message="alpha " + "word " * 60)
    await router.complete(provider="echo", message="beta", session_id=first.session_id)
    return first.session_id


def test_limits_by_model_then_family_then_default() -> None:
    backend = SmallEcho()
    assert context_limit(backend, "small-1") == 120
    assert context_limit(backend, "small-1-20260101") == 120  # a snapshot: same family
    assert context_limit(backend, "other") == 90
    assert context_limit(EchoBackend(), "echo-1") == 1_000_000
    assert context_limit(EchoBackend(), "unknown") is None


async def test_the_default_keeps_the_newest_turns_and_the_transcript(
    make_router: Callable[..., Router],
) -> None:
    router = _router(make_router)
    sid = await _long_session(router)
    result = await router.complete(
        provider="small", model="small-1", message="/recall", session_id=sid
    )
    [notice] = [e for e in result.events if isinstance(e, ContextCompacted)]
    assert (notice.turns_before, notice.turns_after, notice.by) == (2, 1, "trim_oldest")
    assert notice.limit == 120 and notice.tokens_after <= 120 < notice.tokens_before
    assert "user: beta" in result.text and "alpha" not in result.text
    turns = await router.transcript(sid, "local")
    assert [t.user.split()[0] for t in turns] == ["alpha", "beta", "/recall"]  # all kept


async def test_error_refuses_before_any_call(make_router: Callable[..., Router]) -> None:
    router = _router(make_router, context_overflow="error")
    sid = await _long_session(router)
    result = await router.complete(
        provider="small", model="small-1", message="/recall", session_id=sid
    )
    [error] = result.errors
    assert error.code == ErrorCode.CONTEXT_LENGTH_EXCEEDED
    assert "model 'small-1' on provider 'small'" in error.message
    assert 'Router(context_overflow="compact")' in error.message
    assert error.detail is not None and error.detail["limit"] == 120
    assert result.stop_reason is StopReason.ERROR and result.usage.input_tokens == 0
    rows = await router.usage(end_user_id="local")
    assert sum(r.calls for r in rows) == 2  # the two echo turns; none for the refused one


async def test_a_message_too_big_alone_is_refused_even_when_compacting(
    make_router: Callable[..., Router],
) -> None:
    result = await _router(make_router).complete(
        provider="small", model="small-2", message="word " * 100
    )
    [error] = result.errors
    assert error.code == ErrorCode.CONTEXT_LENGTH_EXCEEDED
    assert "its system prompt, message and tools alone need about" in error.message


class Summariser:
    def __init__(self, answer: str = "summary") -> None:
        self.answer = answer
        self.seen: list[tuple[int, int, str]] = []

    @hookimpl
    def copass_router_compact_history(
        self, turns: list[TranscriptTurn], limit: int, turn: Turn
    ) -> list[TranscriptTurn] | None:
        self.seen.append((len(turns), limit, turn.model))
        if self.answer == "pass":
            return None
        if self.answer == "raise":
            raise RuntimeError("summariser down")
        if self.answer == "too big":
            return turns
        note = attrs_evolve(turns[0], user="(earlier, summarised)", items=(AssistantItem("x"),))
        return [note, turns[-1]]


def attrs_evolve(turn: TranscriptTurn, **changes: Any) -> TranscriptTurn:
    import attrs

    return attrs.evolve(turn, **changes)


async def test_a_plugin_compacts_its_own_way(make_router: Callable[..., Router]) -> None:
    summariser = Summariser()
    router = _router(make_router, summariser)
    sid = await _long_session(router)
    result = await router.complete(
        provider="small", model="small-1", message="/recall", session_id=sid
    )
    [notice] = [e for e in result.events if isinstance(e, ContextCompacted)]
    assert notice.by == "hook" and notice.turns_after == 2
    assert summariser.seen[0][0] == 2 and summariser.seen[0][2] == "small-1"
    assert "user: (earlier, summarised)\nassistant: x\nuser: beta" in result.text


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        ("pass", None, ""),
        ("too big", ErrorCode.CONTEXT_LENGTH_EXCEEDED, "the model takes 120"),
        ("raise", ErrorCode.INTERNAL_ERROR, "summariser down"),
    ],
)
async def test_what_a_hook_gives_back_is_checked(
    make_router: Callable[..., Router], answer: str, code: str | None, says: str
) -> None:
    router = _router(make_router, Summariser(answer))
    sid = await _long_session(router)
    result = await router.complete(
        provider="small", model="small-1", message="/recall", session_id=sid
    )
    if code is None:  # passed on: the default trimmed
        assert [e.by for e in result.events if isinstance(e, ContextCompacted)] == ["trim_oldest"]
        return
    [error] = result.errors
    assert error.code == code and says in error.message


def test_the_overflow_policy_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="compact, error"):
        Router(load_entry_points=False, store=":memory:", context_overflow="truncate")


async def test_the_environment_sets_the_overflow_policy(make_router: Callable[..., Router]) -> None:
    router = _router(make_router, environ={"COPASS_ROUTER_CONTEXT_OVERFLOW": "error"})
    sid = await _long_session(router)
    result = await router.complete(
        provider="small", model="small-1", message="/recall", session_id=sid
    )
    assert [e.code for e in result.errors] == [ErrorCode.CONTEXT_LENGTH_EXCEEDED]
