"""``AgentBackend.prepare_turn`` and ``prepare_session``: the core runs them beside the
session's claim and hands them to the backend's turn, with the request as the backend receives
it; a turn preparation no turn reaches is cancelled, a session preparation no turn awaits is
waited for and discarded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from copass_router import (
    AgentBackend,
    Event,
    Message,
    RequestField,
    Router,
    RunRequest,
    RunStarted,
    StopReason,
    ToolSpec,
    Turn,
    hookimpl,
)

OTHERS = (RequestField("deployment_id"),)


class PreparingBackend(AgentBackend):
    """Prepares a greeting from the request it is given; ``/slow`` prepares until cancelled."""

    default_model = "prep-1"

    def __init__(self) -> None:
        self.prepared_for: list[RunRequest] = []
        self.cancelled = 0
        self.sessions_made: list[str] = []
        self.discarded: list[Any] = []

    def prepare_turn(
        self, request: RunRequest, model: str, tools: Sequence[ToolSpec]
    ) -> Awaitable[str]:
        self.prepared_for.append(request)
        return self._prepare(request, model)

    async def _prepare(self, request: RunRequest, model: str) -> str:
        if request.message == "/slow":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return f"prepared on {model}"

    def prepare_session(
        self,
        request: RunRequest,
        model: str,
        tools: Sequence[ToolSpec],
        prepared: Awaitable[Any] | None,
    ) -> Awaitable[str]:
        return self._new_session(request, prepared)

    async def _new_session(self, request: RunRequest, prepared: Awaitable[Any] | None) -> str:
        assert prepared is not None
        await prepared  # the session is made on what the turn's preparation found
        if request.message == "/hang":  # a provider that never answers
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        made = f"native-{request.session_id}"
        self.sessions_made.append(made)
        return made

    async def discard_session(self, made: Any) -> None:
        self.discarded.append(made)

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        prepared, turn.prepared = turn.prepared, None
        text = await prepared if prepared is not None and turn.message != "/slow" else "none"
        yield Message(text=text)
        session, turn.prepared_session = turn.prepared_session, None
        if session is not None and turn.message not in ("/unused", "/slow", "/hang"):
            yield Message(text=f"in {await session}")


class Plugins:
    def __init__(self) -> None:
        self.backend = PreparingBackend()

    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        register("prep", lambda ctx: self.backend)
        register("other", lambda ctx: self.backend, fields=OTHERS)


async def test_the_turn_gets_what_was_prepared_for_the_request_as_its_backend_sees_it(
    make_router: Callable[..., Router],
) -> None:
    plugins = Plugins()
    router = make_router(plugins=[plugins])
    result = await router.complete(provider="prep", message="hi", deployment_id="d-1")
    texts = [e.text for e in result.events if isinstance(e, Message)]
    assert texts == ["prepared on prep-1", f"in native-{result.session_id}"]
    # Another provider's field stays with the run (for its fallbacks), not with this backend.
    assert [dict(r.provider_fields) for r in plugins.backend.prepared_for] == [{}]


async def test_a_preparation_no_turn_awaits_is_cancelled_when_the_run_ends(
    make_router: Callable[..., Router],
) -> None:
    plugins = Plugins()
    router = make_router(plugins=[plugins])
    stream = router.run(provider="prep", message="/slow")
    assert isinstance(await stream.__anext__(), RunStarted)
    rest = [e async for e in stream]
    assert [e.text for e in rest if isinstance(e, Message)] == ["none"]
    assert plugins.backend.cancelled == 1
    # The session's preparation waited for the cancelled one: it made nothing to discard.
    assert plugins.backend.sessions_made == plugins.backend.discarded == []


async def test_a_new_session_is_prepared_under_the_id_the_store_gives_it(
    make_router: Callable[..., Router],
) -> None:
    plugins = Plugins()
    router = make_router(plugins=[plugins])
    first = await router.complete(provider="prep", message="hi")
    # Made while the store claimed the session, for the id the session got.
    assert first.text == f"prepared on prep-1\n\nin native-{first.session_id}"
    assert plugins.backend.sessions_made == [f"native-{first.session_id}"]
    # A run in a session that exists prepares none.
    again = await router.complete(provider="prep", message="hi", session_id=first.session_id)
    assert again.text == "prepared on prep-1"
    assert len(plugins.backend.sessions_made) == 1 and plugins.backend.discarded == []
    assert [s.session_id for s in await router.list_sessions("local")] == [first.session_id]


async def test_a_prepared_session_no_turn_awaits_is_discarded_when_the_run_ends(
    make_router: Callable[..., Router],
) -> None:
    plugins = Plugins()
    router = make_router(plugins=[plugins])
    result = await router.complete(provider="prep", message="/unused")
    assert plugins.backend.discarded == [f"native-{result.session_id}"]


async def test_a_prepared_session_that_never_ends_is_given_up_on(
    make_router: Callable[..., Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    from copass_router.run import _prepared

    monkeypatch.setattr(_prepared, "DISCARD_WAIT", 0.05)
    plugins = Plugins()
    router = make_router(plugins=[plugins])
    result = await router.complete(provider="prep", message="/hang")
    assert result.stop_reason is StopReason.END_TURN
    assert plugins.backend.cancelled == 1 and plugins.backend.discarded == []
