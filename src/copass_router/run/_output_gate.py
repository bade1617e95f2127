"""The end of a turn that asked for structured output: validate the answer, ask once again
with the validation error, then stream the value or end with ``output_invalid``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import ErrorCode
from copass_router._events import Error, Event, Retry, StructuredOutput
from copass_router._structured_output import (
    OUTPUT_RETRIES,
    OutputCheck,
    check_output,
    correction_message,
)
from copass_router._types import AssistantItem, Binding, StopReason

if TYPE_CHECKING:
    from copass_router.run._failover import TurnDriver


class OutputGate:
    """Checks each finished attempt of one turn against the run's ``output_schema``.

    After :meth:`finish`, :attr:`again` says whether the driver runs another attempt (the
    one that asks again, already prepared).
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.retries_left = OUTPUT_RETRIES
        self.again = False
        self._answers_from = 0  # recorder items before the attempt being checked

    async def finish(self, driver: TurnDriver) -> AsyncGenerator[Event]:
        """The events that end an attempt which ended on its own: the value, or a retry, or
        the ``output_invalid`` error."""
        self.again = False
        turn = driver.turn
        if turn.stop_requested is not None or turn.stop_reason is not StopReason.END_TURN:
            return
        check = self._check(driver)
        runner = driver.runner
        if check.ok:
            async for out in runner._emit([StructuredOutput(value=check.value)]):
                yield out
            return
        error = check.error or "the answer does not validate"
        if self.retries_left > 0:
            self.retries_left -= 1
            self.again = True
            yield await self._ask_again(driver, error)
            return
        turn.stop_reason = StopReason.ERROR
        failure = Error(
            code=ErrorCode.OUTPUT_INVALID.value,
            message=f"the answer does not match output_schema after {OUTPUT_RETRIES + 1} "
            f"attempts: {error}",
            provider=turn.provider,
        )
        async for out in runner._emit([failure]):
            yield out

    def _check(self, driver: TurnDriver) -> OutputCheck:
        recorder = driver.recorder
        recorder._flush_text()
        answers = [
            item.text
            for item in recorder.items[self._answers_from :]
            if isinstance(item, AssistantItem)
        ]
        self._answers_from = len(recorder.items)
        return check_output(answers[-1] if answers else "", self.schema)

    async def _ask_again(self, driver: TurnDriver, error: str) -> Event:
        """Start the attempt that tells the model what failed: on the same provider, which gets
        the turn so far (its native session has seen it already)."""
        old_runner, target = driver.runner, driver.target
        await old_runner.aclose()
        old = old_runner.turn
        partial = driver._turn_so_far(target)
        native = old.new_binding or old.binding
        binding: Binding | None = native
        if target.backend.keeps_native_session and native is not None:
            history: list[Any] = []
        else:
            history, binding = await driver._history(target)
            if partial is not None:
                history = [*history, partial]
        again = attrs.evolve(
            target, request=attrs.evolve(target.request, message=correction_message(error))
        )
        turn, context = driver._new_turn(again, history, binding, partial)
        turn.tool_rounds = old.tool_rounds
        driver.had_binding = binding is not None
        timeout = None
        if driver._deadline is not None:
            timeout = max(driver._deadline - asyncio.get_running_loop().time(), 0.001)
        driver._runner_now = driver._runner(turn, context, timeout)
        driver.runner._seq = old_runner._seq
        notice = Retry(
            attempt=OUTPUT_RETRIES - self.retries_left,
            delay=0.0,
            code=ErrorCode.OUTPUT_INVALID.value,
            message=error,
            provider=target.provider,
        )
        return await driver.runner.bookend(notice)
