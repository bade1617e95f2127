"""ToolTasks: a managed runtime's tool answers, each in its own task, failures as the turn's
Error, what still runs cancelled at the turn's end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from copass_router import (
    Error,
    Event,
    ProviderError,
    RunRequest,
    ToolCall,
    ToolCallRequest,
    ToolResult,
    ToolTasks,
    TranscriptTurn,
    Turn,
)

SECRET = "sk-test-0123456789abcdefghijklmnop"


class SdkError(Exception):
    """Stands for a provider SDK's own exception."""


def mapped(exc: Exception) -> ProviderError | None:
    if isinstance(exc, SdkError):
        return ProviderError.from_status(503, "overloaded", provider="p")
    return None


def turn_with_tool() -> Turn:
    async def dispatch(_turn: Turn, calls: Sequence[ToolCallRequest]) -> AsyncIterator[Event]:
        for call in calls:
            yield ToolCall(call_id=call.call_id, name=call.name, arguments=dict(call.arguments))
            yield ToolResult(call_id=call.call_id, name=call.name, output=f"ran {call.name}")

    async def history() -> list[TranscriptTurn]:
        return []

    return Turn(
        request=RunRequest(provider="p", message="m"),
        run_id="r",
        session_id="s",
        model="m",
        history=(),
        binding=None,
        tools=(),
        dispatch=dispatch,
        load_history=history,
    )


async def test_a_call_runs_through_the_dispatcher_its_events_into_the_stream() -> None:
    turn = turn_with_tool()
    tools = ToolTasks(turn, "p", mapped)
    result = await tools.run(ToolCallRequest("c1", "lookup", {}), "round-1")
    assert result is not None and result.output == "ran lookup"
    assert [type(e) for e in turn.drain()] == [ToolCall, ToolResult]
    # A call the provider's stream already showed is not shown again.
    await tools.run(ToolCallRequest("c2", "lookup", {}), "round-1", call_shown=True)
    assert [type(e) for e in turn.drain()] == [ToolResult]


async def test_a_failed_answer_is_the_turns_one_error() -> None:
    turn = turn_with_tool()
    tools = ToolTasks(turn, "p", mapped)

    async def refused() -> None:
        raise SdkError("503")

    async def broken() -> None:
        raise RuntimeError(f"bug with {SECRET}")

    tools.spawn(refused())
    await asyncio.sleep(0.01)
    assert tools.failed
    (error,) = turn.drain()
    assert isinstance(error, Error) and error.provider == "p"
    assert error.retryable and error.detail == {"status": 503}

    other = ToolTasks(turn, "p", mapped)
    other.spawn(broken())
    await asyncio.sleep(0.01)
    (error,) = turn.drain()
    assert isinstance(error, Error) and error.code == "internal_error" and not error.retryable
    assert SECRET not in repr(error)


async def test_close_cancels_what_still_runs() -> None:
    turn = turn_with_tool()
    tools = ToolTasks(turn, "p", mapped)
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tools.spawn(slow())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await tools.close()
    assert cancelled.is_set() and not tools.failed and turn.drain() == []
