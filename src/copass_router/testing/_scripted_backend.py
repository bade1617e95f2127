"""A backend whose turns a test scripts in advance, like llm's mock model."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

from copass_router._events import Event
from copass_router._types import StopReason
from copass_router.plugin_host._hookspecs import hookimpl
from copass_router.provider_kit._backend import AgentBackend, BackendContext, Turn


@attrs.frozen
class _Script:
    events: tuple[Event, ...]
    stop_reason: StopReason
    raises: BaseException | None
    delay: float
    hang: bool


class ScriptedBackend(AgentBackend):
    """Yields the events a test enqueued, one script per turn.

    ``turns`` keeps every Turn it ran; ``cancelled`` counts turns closed before they finished
    and ``finished`` those that ran to the end, so a test can check cleanup.
    """

    default_model = "scripted-1"

    def __init__(self) -> None:
        self._scripts: deque[_Script] = deque()
        self.turns: list[Turn] = []
        self.cancelled = 0
        self.finished = 0

    def enqueue(
        self,
        *events: Event,
        stop_reason: StopReason = StopReason.END_TURN,
        raises: BaseException | None = None,
        delay: float = 0.0,
        hang: bool = False,
    ) -> None:
        """Script the next turn: yield ``events`` (pausing ``delay`` s before each), then raise
        ``raises`` or wait forever (``hang``) or end with ``stop_reason``."""
        self._scripts.append(_Script(tuple(events), stop_reason, raises, delay, hang))

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        self.turns.append(turn)
        script = (
            self._scripts.popleft()
            if self._scripts
            else _Script((), StopReason.END_TURN, None, 0.0, False)
        )
        done = False
        try:
            for event in script.events:
                if script.delay:
                    await asyncio.sleep(script.delay)
                yield event
            if script.raises is not None:
                raise script.raises
            if script.hang:
                await asyncio.Event().wait()
            turn.stop_reason = script.stop_reason
            done = True
        finally:
            if done:
                self.finished += 1
            else:
                self.cancelled += 1


class ScriptedPlugin:
    """A plugin object registering scripted backends under the given provider names."""

    def __init__(self, backends: dict[str, AgentBackend] | None = None, **named: Any) -> None:
        self.backends = {**(backends or {}), **named}

    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        for name, backend in self.backends.items():
            register(name, _constant(backend), description="scripted test backend")


def _constant(backend: AgentBackend) -> Any:
    def factory(context: BackendContext) -> AgentBackend:
        return backend

    return factory


def scripted_events(texts: Sequence[str]) -> list[Event]:
    """TextDeltas for ``texts`` and the Message joining them."""
    from copass_router._events import Message, TextDelta

    return [*(TextDelta(text=t) for t in texts), Message(text="".join(texts))]
