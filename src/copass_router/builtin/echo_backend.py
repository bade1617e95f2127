"""The ``echo`` provider's backend: the scripted model behind the stateless chat loop (the
registration, in echo.py, imports this module only when a run first uses ``echo``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from ..backend import AgentBackend, BackendContext, Turn
from ..chat_loop import ModelStep, run_chat_loop
from ..events import Error, Event, Message, TextDelta, ThinkingDelta, ThinkingMessage, Usage
from ..testing.scripted_model import scripted_reply
from ..types import ChatMessage


class EchoBackend(AgentBackend):
    """The scripted model behind the stateless chat loop."""

    default_model = "echo-1"

    def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        return run_chat_loop(turn, lambda messages: self._step(messages, turn.model))

    async def _step(
        self, messages: list[ChatMessage], model: str
    ) -> AsyncGenerator[Event | ModelStep]:
        reply = scripted_reply(messages, model=model)
        if reply.thinking:
            for piece in reply.thinking_chunks():
                yield ThinkingDelta(text=piece)
            yield ThinkingMessage(text=reply.thinking)
        if reply.error_code:
            yield Error(code=reply.error_code, message=reply.error_message, provider="echo")
            yield ModelStep(stop_reason=reply.stop_reason)
            return
        for piece in reply.chunks():
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield TextDelta(text=piece)
        if reply.text:
            yield Message(text=reply.text)
        yield Usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
        yield ModelStep(tool_calls=reply.tool_calls, stop_reason=reply.stop_reason)


def make_backend(context: BackendContext) -> EchoBackend:
    """The factory the router calls on first use."""
    return EchoBackend()
