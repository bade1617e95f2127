"""One turn inside an Agents API session: stream, translate, answer tools, clean up.

The live event stream is open before the message is sent (it carries only new events): a new
session is created with the message and streamed from its creation; a known one is subscribed
to, then given the message. The session pauses in ``requires_action`` listing the function
calls it waits for; each is answered through the router's dispatcher in its own task, so the
calls of one step run at once, and the session runs on once every call has its result. Each
call's ``ToolCall`` passes the run loop before its tool starts, so a run over budget ends
there. A stream that drops is reopened and what was missed is read back (the turn's items,
then the session's state). A turn
left before it ends (the consumer stopped, a timeout, the tool-round cap) is cancelled at the
provider with ``agent.session.input.cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import httpx2
import openai

from copass_router import (
    Event,
    ProviderError,
    StopReason,
    ToolCall,
    ToolTasks,
    Turn,
    get_logger,
)

from .agents_errors import PROVIDER, api_error, stream_cut
from .agents_translate import ToolUse, Translator
from .chunk_stream import ChunkStream, open_chunk_stream

log = get_logger("copass_router_openai.agents_driver")

#: How many times a dropped stream is reopened within one turn.
MAX_RECONNECTS = 3
#: Seconds to wait for the cancel to be accepted when a turn is abandoned.
CANCEL_TIMEOUT = 5.0
#: Pauses before re-sending a message the session refused as busy (a cancelled turn settling).
BUSY_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class AgentsTurnDriver:
    """Drives one turn; read ``session_id``, ``translator`` and ``done`` after :meth:`run`."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        turn: Turn,
        translator: Translator,
        session_id: str | None = None,
    ) -> None:
        self._client = client
        self._sessions = client.beta.agents.sessions
        self.turn = turn
        self.translator = translator
        self.session_id = session_id
        self._stream: Any = None
        self._sent = False
        self._tools = ToolTasks(turn, PROVIDER, _sdk_error)

    @property
    def done(self) -> bool:
        """Whether the session finished the turn (so no cancel is needed)."""
        return self.translator.done

    async def create(self, messages: Sequence[Mapping[str, Any]], **session: Any) -> None:
        """Create the session with the turn's message, streaming from its creation."""
        messages_in: Any = list(messages)  # the SDK's message params, as built for it
        self._stream = await open_chunk_stream(
            self._sessions.with_streaming_response.create(
                stream=True, input=messages_in, **session
            ),
            in_stream_errors=False,
        )
        self._sent = True

    async def send(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Subscribe to the known session, then give it the turn's message."""
        assert self.session_id is not None
        self._stream = await self._events_stream()
        event = {"type": "agent.session.input.message", "input": list(messages)}
        for wait in (*BUSY_WAITS, None):
            try:
                await self._sessions.events.create(self.session_id, events=[event])  # type: ignore[list-item]
                break
            except openai.ConflictError:
                if wait is None:
                    raise
                await asyncio.sleep(wait)  # the last turn is still settling its cancel
        self._sent = True

    async def _events_stream(self) -> ChunkStream:
        """Subscribe to the session's events (read without the SDK's stream, see
        :mod:`.chunk_stream`)."""
        assert self.session_id is not None
        return await open_chunk_stream(
            self._sessions.events.with_streaming_response.stream(self.session_id),
            in_stream_errors=False,
        )

    async def run(self, on_session: Callable[[str], None]) -> AsyncIterator[Event]:
        """Yield the turn's events until the session stops; ``on_session(id)`` runs once the
        session has the message."""
        if self.session_id is not None:
            on_session(self.session_id)
        async with contextlib.aclosing(self.turn.merge(self._provider_events(on_session))) as items:
            async for item in items:
                if isinstance(item, Event):
                    yield item  # a tool task's ToolCall / ToolResult / Error
                else:
                    for out in self.translator.translate(item):
                        if isinstance(out, ToolUse):
                            if not self.turn.claim_tool_round(out.round_id):
                                log.info("tool_round_limit", run_id=self.turn.run_id)
                                return  # the core ends the turn with tool_limit
                            # Through the run loop before the tool starts: a run over budget
                            # ends here, and the tool never runs.
                            call = out.call
                            yield ToolCall(
                                call_id=call.call_id, name=call.name, arguments=dict(call.arguments)
                            )
                            if self.turn.stop_requested is not None:
                                return
                            self._tools.spawn(self._answer(out))
                        else:
                            yield out
                if self._tools.failed:
                    self.turn.stop_reason = StopReason.ERROR
                    return
                if self.translator.done:
                    break
        self.turn.stop_reason = self.translator.stop_reason or StopReason.END_TURN

    # --- the stream ----------------------------------------------------------------------------

    async def _provider_events(self, on_session: Callable[[str], None]) -> AsyncIterator[Any]:
        reconnects = 0
        while True:
            stream = self._stream
            try:
                async for event in stream:
                    if self.session_id is None and event.type == "agent.session.created":
                        self.session_id = event.session.id
                        on_session(self.session_id)
                    yield event
            except (httpx2.TransportError, openai.APIConnectionError) as exc:
                log.warning("stream_cut", session_id=self.session_id, error=type(exc).__name__)
            finally:
                await stream.close()
            reconnects += 1
            if reconnects > MAX_RECONNECTS or self.session_id is None:
                raise stream_cut(reconnects)
            try:
                self._stream = await self._events_stream()
                async for event in self._missed():
                    yield event
            except openai.APIError as exc:
                raise api_error(exc, "reconnect the event stream") from None

    async def _missed(self) -> AsyncIterator[Any]:
        """What the turn did while the stream was down: its items, then the session's state."""
        assert self.session_id is not None
        turn_id = self.translator.turn_id
        if turn_id is not None:
            async for item in self._sessions.items.list(self.session_id, order="asc", limit=100):
                if getattr(item, "turn_id", None) == turn_id:
                    yield SimpleNamespace(
                        type="agent.session.turn.item.done", item=item, turn_id=turn_id
                    )
        session = await self._sessions.retrieve(self.session_id)
        if session.status in ("idle", "failed", "budget_reached"):
            self.translator.turn_ended = True
        yield SimpleNamespace(type=f"agent.session.{session.status}", session=session)

    # --- tool calls ----------------------------------------------------------------------------

    async def _answer(self, use: ToolUse) -> None:
        result = await self._tools.run(use.call, use.round_id, call_shown=True)
        answer: dict[str, Any] = {
            "type": "agent.session.input.tool_result",
            "turn_id": use.turn_id,
            "call_id": use.call.call_id,
        }
        if result is None or result.is_error:
            answer.update(success=False, error=(result.output if result else "") or "tool failed")
        else:
            answer.update(success=True, output=result.output)
        assert self.session_id is not None
        await self._sessions.events.create(self.session_id, events=[answer])  # type: ignore[list-item]

    # --- the end -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop tool tasks; cancel the turn at the provider if it did not finish; close."""
        await self._tools.close()
        if self._sent and not self.done and self.session_id is not None:
            await self._cancel()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.close()

    async def _cancel(self) -> None:
        assert self.session_id is not None
        client = self._client.with_options(max_retries=0, timeout=CANCEL_TIMEOUT)
        try:
            await asyncio.wait_for(
                client.beta.agents.sessions.events.create(
                    self.session_id, events=[{"type": "agent.session.input.cancel"}]
                ),
                CANCEL_TIMEOUT,
            )
            log.info("cancelled", session_id=self.session_id, run_id=self.turn.run_id)
        except (openai.APIError, TimeoutError) as exc:
            log.warning("cancel_failed", session_id=self.session_id, error=type(exc).__name__)


def _sdk_error(exc: Exception) -> ProviderError | None:
    return api_error(exc, "answer a tool call") if isinstance(exc, openai.APIError) else None
