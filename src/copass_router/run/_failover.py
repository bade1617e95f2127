"""Failover: a turn whose provider fails goes on with the next one, memory intact.

The transcript lives in the router, so the next provider gets the session's history and what
the failed attempt did so far (its text, tool calls and tool results), never a tool run again.
A stateless provider gets it rendered like any history; a native-session provider gets what its
native session has not seen. The router drives the attempts with :class:`TurnDriver`; where
a turn may go (the policy, the checked fallbacks) is :mod:`._failover_policy`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._events import Error, Event, Failover
from copass_router._types import Binding, StopReason, TranscriptTurn
from copass_router.run._failover_policy import FailoverPolicy, Target
from copass_router.run._output_gate import OutputGate
from copass_router.run._recorder import TurnRecorder
from copass_router.run._run_loop import OUTPUT_EVENTS, Meter, TurnRunner
from copass_router.tools._tools import ToolContext

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import Turn
    from copass_router.store import SessionStore

#: The user message a provider taking over mid-turn receives after the turn so far.
CONTINUE_MESSAGE = (
    "(The previous model stopped in the middle of this turn. Continue the turn from where it "
    "stopped, using the tool results above; do not repeat tool calls that already have results.)"
)


#: Builds an attempt's Turn and tool context: (target, history, binding) -> (turn, context).
NewTurn = Callable[
    [Target, Sequence[TranscriptTurn], Binding | None, TranscriptTurn | None],
    tuple["Turn", ToolContext],
]


class TurnDriver:
    """Runs one turn on its first target and, when it fails as the policy says, on the next.

    Every attempt shares one recorder (the turn's transcript) and one sequence of event numbers;
    what an attempt did so far is the next attempt's history.
    """

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        policy: FailoverPolicy,
        new_turn: NewTurn,
        store: SessionStore,
        session_id: str,
        started: TranscriptTurn,
        middleware: Sequence[Callable[..., Any]],
        timeout: float | None,
        meter: Callable[[Target], Meter | None] = lambda target: None,
        may_fail_over: Callable[[], bool] = lambda: True,
    ) -> None:
        self._targets = list(targets)
        self._policy = policy
        self._new_turn = new_turn
        self._store = store
        self._sid = session_id
        self._started = started
        self._middleware = tuple(middleware)
        self._meter = meter
        self._may_fail_over = may_fail_over
        loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._deadline = loop.time() + timeout if timeout else None
        self.recorder = TurnRecorder()
        self.index = 0
        self.had_binding = False
        self._runner_now: TurnRunner | None = None
        schema = self._targets[0].request.output_schema if self._targets else None
        self._output = OutputGate(schema) if schema is not None else None

    async def start(self, history: Sequence[TranscriptTurn], binding: Binding | None) -> None:
        """Prepare the first attempt with the history and native-session binding the store
        read when the turn began."""
        self.had_binding = binding is not None
        turn, context = self._new_turn(self.target, history, binding, None)
        self._runner_now = self._runner(turn, context, self._timeout)

    @property
    def runner(self) -> TurnRunner:
        """The attempt's runner (after :meth:`start`)."""
        assert self._runner_now is not None, "TurnDriver.start() first"
        return self._runner_now

    @property
    def turn(self) -> Turn:
        """The attempt running now (after the turn: the one that finished it)."""
        return self.runner.turn

    @property
    def target(self) -> Target:
        return self._targets[self.index]

    def _runner(self, turn: Turn, context: ToolContext, timeout: float | None) -> TurnRunner:
        target = self.target
        self.recorder.source = (turn.provider, turn.model)  # whose reasoning it records
        return TurnRunner(
            turn, target.backend, context, self._middleware, timeout, self._meter(target),
            recorder=self.recorder,
        )  # fmt: skip

    async def bookend(self, event: Event) -> Event:
        """Stamp ``RunStarted``/``RunFinished`` (see :meth:`TurnRunner.bookend`)."""
        return await self.runner.bookend(event)

    def events(self) -> AsyncGenerator[Event]:
        """The turn's events, across every attempt it takes. A turn with nowhere to fail over
        to streams its one attempt's events as they are (no layer of its own per event)."""
        if len(self._targets) == 1 and self._output is None:
            return self.runner.events()
        return self._attempts()

    async def _attempts(self) -> AsyncGenerator[Event]:
        while True:
            # The last error is held back: if the turn fails over, the Failover replaces it.
            held: Error | None = None
            errors_before = len(self.recorder.errors)
            produced = False  # by this attempt
            async with contextlib.aclosing(self.runner.events()) as stream:
                async for event in stream:
                    if held is not None:
                        yield held
                        held = None
                    if isinstance(event, Error):
                        held = event
                        continue
                    if not produced and isinstance(event, OUTPUT_EVENTS):
                        produced = True
                    yield event
            # What the backend reported, as recorded before event middleware saw it.
            errors = self.recorder.errors[errors_before:]
            last_error = errors[-1] if errors else None
            failed = self.turn.stop_reason is StopReason.ERROR
            if failed and last_error is not None and self._should_fail_over(last_error, produced):
                notice = await self._switch(last_error, held)
                yield notice
                continue
            if held is not None:
                yield held
            elif self._output is not None:
                async for out in self._output.finish(self):
                    yield out
                if self._output.again:
                    continue
            return

    def _should_fail_over(self, error: Error, produced: bool) -> bool:
        if self.index + 1 >= len(self._targets) or self.turn.stop_requested is not None:
            return False
        if self._deadline is not None and asyncio.get_running_loop().time() >= self._deadline:
            return False
        return self._policy.applies(error, produced) and self._may_fail_over()

    async def _switch(self, error: Error, held: Error | None) -> Event:
        """Close the failed attempt and start the next: the Failover event that says so."""
        old_runner, old = self.runner, self.target
        await old_runner.aclose()
        self.index += 1
        target = self.target
        history, binding = await self._history(target)
        partial = self._turn_so_far(old)
        if partial is not None:
            history = [*history, partial]
            target = attrs.evolve(
                target, request=attrs.evolve(target.request, message=CONTINUE_MESSAGE)
            )
        turn, context = self._new_turn(target, history, binding, partial)
        turn.tool_rounds = old_runner.turn.tool_rounds
        self.had_binding = binding is not None
        timeout = None
        if self._deadline is not None:
            timeout = max(self._deadline - asyncio.get_running_loop().time(), 0.001)
        self._runner_now = self._runner(turn, context, timeout)
        # The failure the Failover replaces was never shown: its number goes to the notice.
        self.runner._seq = held.seq if held is not None else old_runner._seq
        notice = Failover(
            from_provider=old.provider,
            from_model=old.model,
            to_provider=target.provider,
            to_model=target.model,
            code=error.code,
            message=error.message,
        )
        # The transcript says so too (``provider_data["failovers"]``), not only the stream.
        self.recorder.provider_data.setdefault("failovers", []).append(
            {
                "from_provider": old.provider,
                "from_model": old.model,
                "to_provider": target.provider,
                "to_model": target.model,
                "code": error.code,
            }
        )
        return await self.runner.bookend(notice)

    async def _history(self, target: Target) -> tuple[list[TranscriptTurn], Binding | None]:
        """The earlier turns ``target`` has not seen, and its native-session binding."""
        sid, before = self._sid, self._started.index
        binding = (
            await self._store.get_binding(sid, target.provider)
            if target.backend.keeps_native_session
            else None
        )
        turns = await self._store.load_turns(sid, start=binding.synced_turns if binding else 0)
        return [t for t in turns if t.index < before], binding

    def _turn_so_far(self, failed: Target) -> TranscriptTurn | None:
        """What the failed attempts of this turn did, as a transcript turn (None: nothing)."""
        self.recorder._flush_text()  # text the failed attempt streamed is part of the turn
        items = list(self.recorder.items)
        if not items:
            return None
        # Its own run id: to the next provider it is an earlier turn, not the one it runs.
        return attrs.evolve(
            self._started,
            run_id=f"{self._started.run_id}-before-failover",
            provider=failed.provider,
            model=failed.model,
            items=tuple(items),
        )

    def finish(self, outcome: StopReason) -> TranscriptTurn:
        """The turn's transcript record, under the provider and model that finished it."""
        target = self.target
        started = attrs.evolve(self._started, provider=target.provider, model=target.model)
        return self.recorder.finish(started, outcome)

    async def aclose(self) -> None:
        """Close the running attempt (its cleanup cancels the provider's turn)."""
        await self.runner.aclose()
