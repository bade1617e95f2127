"""The loop stateless chat backends share: call the model, run its tool calls, call again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

import attrs

from copass_router._errors import ProviderError
from copass_router._events import (
    Event,
    Message,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
)
from copass_router._types import (
    AssistantItem,
    ChatMessage,
    StopReason,
    ToolCallItem,
    ToolCallRequest,
    ToolResultItem,
    TranscriptTurn,
    UserItem,
)
from copass_router.provider_kit._backend import Turn
from copass_router.provider_kit._retries import retry_delay


@attrs.frozen
class ModelStep:
    """How one model request ended: the tool calls it asked for (if any) and why it stopped."""

    tool_calls: tuple[ToolCallRequest, ...] = ()
    stop_reason: StopReason = StopReason.END_TURN


_OUTPUT = (TextDelta, ThinkingDelta, Message, ThinkingMessage, ToolCall, ToolResult)

StepFn = Callable[[list[ChatMessage]], AsyncGenerator[Event | ModelStep]]


def transcript_messages(turns: Sequence[TranscriptTurn]) -> list[ChatMessage]:
    """The neutral chat messages for earlier turns.

    Tool calls are kept only with their results (an interrupted turn can leave a call without
    one, which chat APIs refuse), and an assistant's text and the tool calls that follow it form
    one assistant message, as chat APIs expect.
    """
    messages: list[ChatMessage] = []
    for turn in turns:
        answered = {i.call_id for i in turn.items if isinstance(i, ToolResultItem)}
        called = {i.call_id for i in turn.items if isinstance(i, ToolCallItem)}
        messages.append(ChatMessage("user", turn.user, parts=turn.parts))
        for item in turn.items:
            if isinstance(item, UserItem):
                messages.append(ChatMessage("user", item.text))
            elif isinstance(item, AssistantItem):
                messages.append(ChatMessage("assistant", item.text))
            elif isinstance(item, ToolCallItem) and item.call_id in answered:
                call = ToolCallRequest(item.call_id, item.name, dict(item.arguments))
                last = messages[-1]
                if last.role == "assistant":
                    messages[-1] = attrs.evolve(last, tool_calls=(*last.tool_calls, call))
                else:
                    messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
            elif isinstance(item, ToolResultItem) and item.call_id in called:
                messages.append(
                    ChatMessage(
                        "tool",
                        item.output,
                        call_id=item.call_id,
                        name=item.name,
                        is_error=item.is_error,
                    )
                )
    return messages


def chat_messages(turn: Turn) -> list[ChatMessage]:
    """System prompt, the turns this provider has not seen, and the user's new message."""
    messages = [ChatMessage("system", turn.system)] if turn.system else []
    messages.extend(transcript_messages(turn.history))
    messages.append(ChatMessage("user", turn.message, parts=turn.parts))
    return messages


async def run_chat_loop(turn: Turn, step: StepFn) -> AsyncGenerator[Event]:
    """Drive a turn on a stateless chat API.

    ``step(messages)`` makes one model request: it yields the request's events and ends with a
    :class:`ModelStep`. A step that raises a retryable :class:`ProviderError` before it yielded
    any output is retried under the turn's retry policy (a ``Retry`` event says so). Tool calls
    run through the router's dispatcher and their results go back to the model; past the
    run's ``max_tool_rounds`` the core refuses the calls and the turn ends with ``tool_limit``.
    """
    messages = chat_messages(turn)
    while True:
        outcome = ModelStep()
        text: list[str] = []
        # Closed with the loop: a consumer that stops mid-request closes the request's stream
        # at once, not when the garbage collector finds the generator.
        async with contextlib.aclosing(_step_with_retries(turn, step, messages)) as items:
            async for item in items:
                if isinstance(item, ModelStep):
                    outcome = item
                    continue
                if isinstance(item, Message):
                    text.append(item.text)
                yield item
        if not outcome.tool_calls:
            turn.stop_reason = outcome.stop_reason
            return
        results: dict[str, ToolResult] = {}
        async with contextlib.aclosing(_generator(turn.dispatch(outcome.tool_calls))) as tools:
            async for event in tools:
                if isinstance(event, ToolResult):
                    results[event.call_id] = event
                yield event
        if turn.stop_requested is not None:
            turn.stop_reason = turn.stop_requested
            return
        messages.append(ChatMessage("assistant", "\n\n".join(text), tool_calls=outcome.tool_calls))
        for call in outcome.tool_calls:
            result = results[call.call_id]
            messages.append(
                ChatMessage(
                    "tool",
                    result.output,
                    call_id=call.call_id,
                    name=call.name,
                    is_error=result.is_error,
                )
            )


async def _generator(source: AsyncIterator[Event]) -> AsyncGenerator[Event]:
    async for event in source:
        yield event


async def _step_with_retries(
    turn: Turn, step: StepFn, messages: list[ChatMessage]
) -> AsyncGenerator[Event | ModelStep]:
    while True:
        produced = False
        try:
            async with contextlib.aclosing(step(list(messages))) as request:
                async for item in request:
                    if not produced and isinstance(item, _OUTPUT):
                        produced = True
                    yield item
            return
        except ProviderError as exc:
            delay = None if produced else retry_delay(turn.retry_policy, exc, turn.retries)
            if delay is None:
                raise
            yield turn.note_retry(exc, delay)
            await asyncio.sleep(delay)
