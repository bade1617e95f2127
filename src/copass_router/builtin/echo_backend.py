"""The ``echo`` provider's backend: the scripted model behind the stateless chat loop (the
registration, in echo.py, imports this module only when a run first uses ``echo``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from copass_router._events import (
    Error,
    Event,
    Message,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    Usage,
)
from copass_router._generation import GENERATION_FIELDS, GenerationSettings
from copass_router._types import ChatMessage
from copass_router.builtin._scripted_model import scripted_reply
from copass_router.content._support import IMAGE_TYPES, PartSupport
from copass_router.provider_kit._backend import AgentBackend, BackendContext, Turn
from copass_router.provider_kit._chat_loop import ModelStep, run_chat_loop

YIELD_EVERY = 32


class EchoBackend(AgentBackend):
    """The scripted model behind the stateless chat loop."""

    default_model = "echo-1"
    models = ("echo-1",)
    generation_settings = frozenset(GENERATION_FIELDS)
    #: The scripted model reads any image or file (``/parts`` lists them), by bytes or URL.
    part_support = {
        "image": PartSupport(IMAGE_TYPES, urls=True),
        "file": PartSupport({"application/pdf", "text/plain"}, urls=True),
    }

    def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        return run_chat_loop(
            turn, lambda messages: self._step(messages, turn.model, turn.generation)
        )

    async def _step(
        self, messages: list[ChatMessage], model: str, settings: GenerationSettings
    ) -> AsyncGenerator[Event | ModelStep]:
        reply = scripted_reply(messages, model=model, settings=settings)
        if reply.thinking:
            async for piece in _paced(reply.thinking_chunks()):
                yield ThinkingDelta(text=piece)
            yield ThinkingMessage(text=reply.thinking)
        if reply.error_code:
            yield Error(code=reply.error_code, message=reply.error_message, provider="echo")
            yield ModelStep(stop_reason=reply.stop_reason)
            return
        async for piece in _paced(reply.chunks(), reply.chunk_delay):
            yield TextDelta(text=piece)
        if reply.text:
            yield Message(text=reply.text)
        yield Usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
        yield ModelStep(tool_calls=reply.tool_calls, stop_reason=reply.stop_reason)


async def _paced(pieces: list[str], delay: float = 0.0) -> AsyncIterator[str]:
    for n, piece in enumerate(pieces, 1):
        if delay:
            await asyncio.sleep(delay)
        elif not n % YIELD_EVERY:
            # The whole reply is already in memory: without a pause this loop would hold the
            # event loop (and every other run and request) until it is done.
            await asyncio.sleep(0)
        yield piece


def make_backend(context: BackendContext) -> EchoBackend:
    """The factory the router calls on first use."""
    return EchoBackend()
