"""One ``gemini-agents`` turn: the chain of interactions it makes, one per model request.

The core's chat loop hands each step the whole neutral conversation; the service already holds
what earlier interactions of the chain saw, so a step sends only the messages past that point
(the user's message, or the ``function_result`` steps answering the model's calls) and names
the last interaction as ``previous_interaction_id``. A chain the service lost, or one made on
another agent, is rebuilt from the router's transcript as the API's own steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from google.genai import _interactions as sdk_errors

from copass_router import (
    ChatMessage,
    Event,
    ModelStep,
    StopReason,
    Turn,
    get_logger,
    transcript_messages,
)

from .interactions_errors import connection_error, status_error, stream_incomplete
from .interactions_translate import StreamTranslator, input_steps

log = get_logger("copass_router_google.interactions_turn")

#: Bounds the provider-side cancel of an abandoned interaction (best effort, never blocks long).
CANCEL_TIMEOUT = 5.0
#: Interactions remembered per session for clean-up (the oldest are dropped beyond this).
MAX_REMEMBERED = 500
#: Tries of one create when the service says "not found" (a stale agent, then a lost chain).
_ATTEMPTS = 3

#: ``recover()`` after a 404: True when the backend replaced a stale agent (try again).
Recover = Callable[[], Awaitable[bool]]


class Chain:
    """The interactions of one turn: what the service has seen, and the step function.

    :param api: the SDK's ``client.aio.interactions``.
    :param body: the fields every interaction of the turn carries besides its input and chain.
    :param agent: the managed agent the turn runs on (None: a model interaction).
    :param recover: called on a 404; True when a stale agent was made anew.
    :param streaming: the resource interactions are created through, streaming (default: ``api``).
    """

    def __init__(
        self,
        api: Any,
        turn: Turn,
        body: Callable[[], dict[str, Any]],
        *,
        agent: str | None = None,
        recover: Recover | None = None,
        streaming: Any = None,
    ) -> None:
        self.api = api
        self._streaming = streaming or api
        self.turn = turn
        self._body = body
        self._recover = recover
        binding = turn.binding
        data: Mapping[str, Any] = binding.data if binding is not None else {}
        # Reasoning (thought signatures) belongs to the runtime that made it: a chain is only
        # continued on the same agent and model; another one gets the transcript instead.
        same_runtime = (
            binding is not None
            and data.get("agent") == agent
            and data.get("model", turn.model) == turn.model
        )
        #: The last interaction of the chain this turn continues (None: a new chain).
        self.previous: str | None = binding.native_id if same_runtime and binding else None
        self._rebuild = binding is not None and not same_runtime
        self._known: list[str] = list(data.get("interactions") or ())
        #: Messages of the core's list the service already holds (the system prompt is no step).
        self.seen = 1 if turn.system else 0
        self.history_end = self.seen + len(transcript_messages(turn.history))
        #: The last interaction that completed with nothing pending (the session's binding).
        self.completed: str | None = None
        self._running: str | None = None

    def remembered(self) -> list[str]:
        """The chain's interaction ids (for clean-up when the session is deleted)."""
        return self._known[-MAX_REMEMBERED:]

    async def step(self, messages: list[ChatMessage]) -> AsyncGenerator[Event | ModelStep]:
        """One interaction: the new messages as steps, streamed back as neutral events."""
        await self.abandon()  # an attempt the core is retrying may still run at Gemini
        try:
            stream = await self._create(messages)
        except sdk_errors.APIStatusError as exc:
            raise status_error(exc, "start the interaction") from None
        except sdk_errors.APIConnectionError as exc:
            raise connection_error(exc, streaming=False) from None
        translator = StreamTranslator()
        try:
            async with stream:
                async for raw in stream:
                    events = translator.feed(raw)
                    if translator.interaction_id and self._running is None:
                        self._running = translator.interaction_id
                        self._known.append(translator.interaction_id)
                    for event in events:
                        yield event
        except sdk_errors.APIConnectionError as exc:
            raise connection_error(exc, streaming=True) from None
        if not translator.finished:
            raise stream_incomplete()
        self._running = None
        usage = translator.usage_event()
        if usage is not None:
            yield usage
        if translator.interaction_id and translator.stop_reason is not StopReason.ERROR:
            self.previous = translator.interaction_id
            # The core appends the model's own message next: the service holds it already.
            self.seen = len(messages) + 1
            if not translator.tool_calls and translator.status == "completed":
                self.completed = translator.interaction_id
        yield ModelStep(tuple(translator.tool_calls), translator.stop_reason)

    async def _create(self, messages: list[ChatMessage]) -> Any:
        for attempt in range(_ATTEMPTS):
            try:
                return await self._streaming.create(**await self._request(messages))
            except sdk_errors.NotFoundError:
                if attempt == _ATTEMPTS - 1:
                    raise
                if self._recover is not None and await self._recover():
                    continue
                if self.previous is None:
                    raise
                # The chain is gone (deleted, expired): a new one from the transcript.
                log.info("interaction_chain_gone", interaction_id=self.previous)
                self.previous, self._rebuild = None, True
        raise AssertionError("unreachable")

    async def _request(self, messages: list[ChatMessage]) -> dict[str, Any]:
        body = self._body()
        if self.previous is not None:
            body["previous_interaction_id"] = self.previous
            new = messages[self.seen :]
        elif self._rebuild:
            history = await self.turn.full_history()
            earlier = transcript_messages([t for t in history if t.run_id != self.turn.run_id])
            new = [*earlier, *messages[self.history_end :]]
        else:
            new = messages[self.seen :]
        body["input"] = input_steps(new)
        if not body.get("background"):
            # The core retries; a reconnecting stream would replay events it already passed on.
            body["automatic_continuation"] = False
        return body

    async def abandon(self) -> None:
        """Cancel the interaction still running when the turn ends early (consumer gone,
        timeout, tool cap): the service must not go on generating for no one."""
        running, self._running = self._running, None
        if running is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.api.cancel(running)), CANCEL_TIMEOUT)
        except (sdk_errors.APIError, TimeoutError) as exc:
            log.info("cancel_failed", interaction_id=running, error=type(exc).__name__)
