"""``AgentBackend.prepare_turn``: the core runs it beside the session's claim and hands it to
the backend's turn, with the request as the backend receives it; a turn that never reaches it
cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from copass_router import (
    AgentBackend,
    Event,
    Message,
    RequestField,
    Router,
    RunRequest,
    RunStarted,
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

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        prepared, turn.prepared = turn.prepared, None
        text = await prepared if prepared is not None and turn.message != "/slow" else "none"
        yield Message(text=text)


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
    assert result.text == "prepared on prep-1"
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
