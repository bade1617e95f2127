"""The chat loop stateless backends share closes what it opened when its consumer stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import SimpleNamespace

from copass_router import (
    AgentBackend,
    ChatMessage,
    Event,
    ModelStep,
    Router,
    TextDelta,
    Turn,
    run_chat_loop,
)
from copass_router.testing import ScriptedPlugin


class _Hanging(AgentBackend):
    """A chat backend whose one model request streams a word, then waits forever."""

    default_model = "hanging-1"

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def _step(self, messages: list[ChatMessage]) -> AsyncGenerator[Event | ModelStep]:
        try:
            yield TextDelta(text="first ")
            await asyncio.Event().wait()
            yield ModelStep()
        finally:
            self.closed.set()  # where a real backend closes its HTTP stream

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        async with contextlib.aclosing(run_chat_loop(turn, self._step)) as events:
            async for event in events:
                yield event


async def test_breaking_out_closes_the_model_request_at_once(
    make_router: Callable[..., Router],
) -> None:
    backend = _Hanging()
    router = make_router(plugins=[ScriptedPlugin(hanging=backend)])
    async with contextlib.aclosing(router.run(provider="hanging", message="hi")) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    assert backend.closed.is_set(), "the step's stream must be closed when the run is"


async def test_closing_the_loop_closes_the_step_before_it_returns() -> None:
    backend = _Hanging()
    turn = SimpleNamespace(system=None, history=(), message="hi", parts=(), retries=0)
    loop = run_chat_loop(turn, backend._step)  # type: ignore[arg-type]
    assert isinstance(await loop.__anext__(), TextDelta)
    await loop.aclose()
    assert backend.closed.is_set(), "aclose must close the step, not leave it to the collector"
