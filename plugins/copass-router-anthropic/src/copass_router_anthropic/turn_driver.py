"""One turn inside an open Managed Agents session: stream, translate, answer tools, clean up.

The event stream is opened before the user message is sent (the stream carries only new
events). Custom tool calls are answered through the router's dispatcher as soon as their event
arrives, each in its own task, so several pending calls run at once and a ``requires_action``
idle may come before or after them. A stream that drops mid-turn is reopened and the missed
events are read back from the event list. If the turn is left before it ends (the consumer
stopped, a timeout, the tool-round limit), the session gets ``user.interrupt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anthropic
import attrs
import httpx2

from copass_router import (
    Event,
    ProviderError,
    StopReason,
    ToolTasks,
    Turn,
    Usage,
    get_logger,
)

from .actions import Confirm, ToolUse
from .event_stream import EventStream, open_event_stream
from .sdk_errors import provider_error
from .translate import Translator

log = get_logger("copass_router_anthropic.turn")

#: How many times a dropped stream is reopened within one turn.
MAX_RECONNECTS = 3
#: Seconds to wait for the interrupt to be accepted when a turn is abandoned.
INTERRUPT_TIMEOUT = 5.0
DELTAS = ["agent.message", "agent.thinking"]


@attrs.frozen
class ToolPermission:
    """A built-in or MCP tool call waiting for permission, as the policy sees it."""

    name: str
    arguments: Mapping[str, Any]
    mcp_server: str | None
    session_id: str
    end_user_id: str


#: Decides a permission request: True / "allow" allows, anything else denies. May be async.
PermissionPolicy = Callable[[ToolPermission], "bool | str | Awaitable[bool | str]"]


def allow_all(_request: ToolPermission) -> bool:
    """The default policy: built-in tools the agent config asks about are allowed."""
    return True


class SessionTurnDriver:
    """Drives one turn in session ``session_id``; read ``done`` and ``translator`` after."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        turn: Turn,
        session_id: str,
        permission: PermissionPolicy,
        secret: str | None,
    ) -> None:
        self._events = client.beta.sessions.events
        self._client = client
        self.turn = turn
        self.session_id = session_id
        self.translator = Translator()
        self._permission = permission
        self._secret = secret
        self._stream: Any = None
        self._message_id: str | None = None
        self._sent = False
        self._tools = ToolTasks(turn, "anthropic", self._sdk_error)

    @property
    def done(self) -> bool:
        """Whether the session finished the turn (so no interrupt is needed)."""
        return self.translator.done

    async def open(self, stream: EventStream | None = None) -> None:
        """Open the event stream, or take ``stream``, one opened ahead on the session. Raises
        the SDK's error (e.g. NotFoundError) as is."""
        self._stream = stream or await open_event_stream(self._client, self.session_id, DELTAS)

    async def run(
        self, message: Mapping[str, Any], on_sent: Callable[[], None]
    ) -> AsyncIterator[Event]:
        """Send the user's message and yield the turn's events until the session stops.

        ``on_sent`` runs once the session has the message (from then on it has seen the turn).
        """
        sent = await self._send(message)
        self._sent = True
        on_sent()
        self._message_id = sent[0] if sent else None
        self.translator.expect(self._message_id)
        async with contextlib.aclosing(self.turn.merge(self._provider_events())) as items:
            async for item in items:
                if isinstance(item, Event):
                    yield item  # a tool task's ToolCall / ToolResult / Error
                else:
                    for out in self.translator.translate(item):
                        if isinstance(out, ToolUse):
                            if not self.turn.claim_tool_round(out.round_id):
                                log.info("tool_round_limit", run_id=self.turn.run_id)
                                return  # the core ends the turn with tool_limit
                            self._tools.spawn(self._answer(out))
                        elif isinstance(out, Confirm):
                            self._tools.spawn(self._confirm(out))
                        else:
                            yield out
                if self._tools.failed:
                    self.turn.stop_reason = StopReason.ERROR
                    return
                if self.translator.done:
                    break
        self.turn.stop_reason = self.translator.stop_reason or StopReason.END_TURN

    async def _send(self, event: Mapping[str, Any]) -> list[str | None]:
        """Send one event; the ids the session gave what it got. The answer is read as JSON,
        not validated into the SDK's models (nothing but the ids is used)."""
        response = await self._events.with_raw_response.send(
            self.session_id,
            events=[event],  # type: ignore[list-item]
        )
        body = await response.json()
        data = body.get("data") if isinstance(body, dict) else None
        return [e.get("id") if isinstance(e, dict) else None for e in data or ()]

    def unreported_usage(self, before: Mapping[str, Any] | None) -> Usage | None:
        """Usage the session counted this turn beyond what model-request spans reported.

        ``before`` is the session's cumulative usage when the turn began (None: unknown).
        """
        after = self.translator.session_usage
        if before is None or after is None:
            return None
        seen = self.translator.reported
        gap = {
            "input_tokens": _gap(after, before, "input_tokens", seen.input_tokens),
            "output_tokens": _gap(after, before, "output_tokens", seen.output_tokens),
            "cache_read_tokens": _gap(
                after, before, "cache_read_input_tokens", seen.cache_read_tokens
            ),
        }
        if not any(gap.values()):
            return None
        return Usage(
            input_tokens=gap["input_tokens"],
            output_tokens=gap["output_tokens"],
            cache_read_tokens=gap["cache_read_tokens"],
        )

    # --- the stream ------------------------------------------------------------------------

    async def _provider_events(self) -> AsyncIterator[Any]:
        reconnects = 0
        while True:
            stream = self._stream
            try:
                async for event in stream:
                    yield event
            except (httpx2.TransportError, anthropic.APIConnectionError) as exc:
                log.warning("stream_cut", session_id=self.session_id, error=type(exc).__name__)
            finally:
                await stream.close()
            # The stream ended before the turn did: reopen it, then read what was missed.
            reconnects += 1
            if reconnects > MAX_RECONNECTS:
                raise ProviderError(
                    f"the Anthropic event stream dropped {MAX_RECONNECTS + 1} times in one turn",
                    provider="anthropic",
                    code="stream_cut",
                )
            try:
                await self.open()
                async for event in self._missed_events():
                    yield event
            except anthropic.APIError as exc:
                raise provider_error(
                    exc, "reconnect the event stream", secret=self._secret
                ) from None

    async def _missed_events(self) -> AsyncIterator[Any]:
        """This turn's events from the event list (the translator skips those already seen)."""
        after = False
        async for event in self._events.list(self.session_id, limit=100):
            after = after or getattr(event, "id", None) == self._message_id
            if after:
                yield event

    # --- tool calls ------------------------------------------------------------------------

    def _sdk_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, anthropic.APIError):
            return provider_error(exc, "answer a tool call", secret=self._secret)
        return None

    async def _answer(self, use: ToolUse) -> None:
        result = await self._tools.run(use.call, use.round_id)
        output = (result.output if result else "") or "(no output)"
        answer = {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": use.call.call_id,
            "content": [{"type": "text", "text": output}],
            "is_error": result is None or result.is_error,
        }
        await self._send(answer)

    async def _confirm(self, request: Confirm) -> None:
        verdict: Any = self._permission(
            ToolPermission(
                request.name,
                request.arguments,
                request.mcp_server,
                self.session_id,
                self.turn.end_user_id,
            )
        )
        if inspect.isawaitable(verdict):
            verdict = await verdict
        allowed = verdict is True or verdict == "allow"
        message = "denied by the router's tool permission policy"
        approvals = self.turn.approvals
        if allowed and approvals is not None and approvals.required(request.name):
            # The operator gates this tool: "ask" becomes the router's approval step.
            decision = await approvals.ask(request.tool_use_id, request.name, request.arguments)
            allowed = decision.approved
            message = f"denied: {decision.reason}" if decision.reason else "denied"
        answer: dict[str, Any] = {
            "type": "user.tool_confirmation",
            "tool_use_id": request.tool_use_id,
            "result": "allow" if allowed else "deny",
        }
        if not allowed:
            answer["deny_message"] = message
        log.info("tool_permission", tool=request.name, result=answer["result"])
        await self._send(answer)

    # --- the end ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop tool tasks; interrupt the session if the turn did not finish; close the stream."""
        await self._tools.close()
        if self._sent and not self.done:
            await self._interrupt()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.close()

    async def _interrupt(self) -> None:
        events = self._client.with_options(max_retries=0, timeout=INTERRUPT_TIMEOUT)
        try:
            await asyncio.wait_for(
                events.beta.sessions.events.send(
                    self.session_id, events=[{"type": "user.interrupt"}]
                ),
                INTERRUPT_TIMEOUT,
            )
            log.info("interrupted", session_id=self.session_id, run_id=self.turn.run_id)
        except (anthropic.APIError, TimeoutError) as exc:
            log.warning("interrupt_failed", session_id=self.session_id, error=type(exc).__name__)


def _gap(after: Mapping[str, Any], before: Mapping[str, Any], key: str, seen: int) -> int:
    return max(0, int(after.get(key) or 0) - int(before.get(key) or 0) - seen)
