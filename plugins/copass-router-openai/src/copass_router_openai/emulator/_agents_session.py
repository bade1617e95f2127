"""One emulated Agents API session: its items, its live subscribers and the turn engine.

A message input starts a turn; the turn asks the scripted model for the next step over the
session's items, streams it as the API's ``agent.session.*`` events to every subscriber, and
pauses in ``requires_action`` while function calls wait for the client's tool results. A cancel
input stops the turn; a spending limit pauses the session in ``budget_reached``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from copass_router import StopReason, ToolCallRequest
from copass_router.testing import ModelReply, scripted_reply

from ._agent_registry import output_schema
from ._agents_model import conversation

#: Agent fields a session keeps (from the saved agent, overridden by ``agent`` on create or
#: update).
AGENT_FIELDS = ("model", "instructions", "tools")
#: What a session takes from its saved agent (and a create's ``agent``) but an update cannot
#: change.
CREATE_ONLY_FIELDS = ("text",)
#: Scripted stops the API reports as a failed turn's error: (code, message).
_TURN_ERRORS = {
    StopReason.MAX_TOKENS: ("max_output_tokens", "The response reached max_output_tokens."),
    StopReason.REFUSAL: ("misalignment_policy_violation", "The request was refused by policy."),
}
#: Scripted error codes -> the session ``error`` event's code and type.
_ERRORS = {
    "rate_limited": ("rate_limit_exceeded", "rate_limit_error"),
    "overloaded": ("server_overloaded", "server_error"),
    "server_error": ("server_error", "server_error"),
}


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class EmulatedSession:
    """A session's state and its running turn.

    :param publish_usage: whether ``turn.completed`` carries the turn's usage (the real API
        says "when available"); the session's own usage is always kept.
    :param cents_per_1k_tokens: what the emulated spend control counts per 1000 tokens.
    """

    def __init__(
        self,
        session_id: str,
        agent: Mapping[str, Any],
        environment: Mapping[str, Any],
        metadata: Mapping[str, str],
        spend_limit: int | None,
        ids: Callable[[str], str],
        *,
        publish_usage: bool = True,
        cents_per_1k_tokens: float = 1.0,
    ) -> None:
        self.id = session_id
        self.agent = dict(agent)
        self.environment = dict(environment)
        self.metadata = dict(metadata)
        self.spend_limit = spend_limit
        self.status = "idle"
        self.items: list[dict[str, Any]] = []
        self.required: list[dict[str, Any]] = []
        self.tokens = [0, 0]
        self.created_at = int(time.time())
        self.publish_usage = publish_usage
        self.cents_per_1k_tokens = cents_per_1k_tokens
        self.subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.turn_id: str | None = None
        self._ids = ids
        self._task: asyncio.Task[None] | None = None
        self._answered = asyncio.Event()
        self._seq = itertools.count(1)

    # --- what the API shows ------------------------------------------------------------------

    @property
    def consumed(self) -> int:
        return math.floor(sum(self.tokens) * self.cents_per_1k_tokens / 1000)

    def view(self) -> dict[str, Any]:
        """The session object (``AgentSession``)."""
        return {
            "id": self.id,
            "object": "agent.session",
            "agent": {
                "id": self.agent.get("id", ""),
                "model": self.agent.get("model"),
                "instructions": self.agent.get("instructions"),
                "tools": self.agent.get("tools") or [],
                "name": self.agent.get("name"),
                "multi_agent": {},
                "reasoning": {},
                "service_tier": "auto",
                "text": self.agent.get("text") or {},
            },
            "created_at": self.created_at,
            "last_active_at": int(time.time()),
            "environment": self.environment,
            "metadata": self.metadata,
            "required_actions": list(self.required),
            "spend_control": {"limit": self.spend_limit, "consumed": self.consumed},
            "status": self.status,
            "usage": _usage(*self.tokens) if any(self.tokens) else None,
            "error": None,
        }

    def publish(self, event: dict[str, Any]) -> None:
        event = {"event_id": self._ids("evt"), **event}
        for queue in list(self.subscribers):
            queue.put_nowait(event)

    def _turn(
        self, status: str, usage: list[int] | None = None, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "error": error,
            "id": self.turn_id,
            "object": "agent.session.turn",
            "agent_id": self.agent.get("id", ""),
            "session_id": self.id,
            "created_at": int(time.time()),
            "status": status,
            "usage": _usage(*usage) if usage and self.publish_usage else None,
        }

    def _session_event(self, kind: str) -> None:
        self.publish({"type": f"agent.session.{kind}", "session": self.view()})

    def _turn_event(
        self,
        kind: str,
        status: str,
        usage: list[int] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        turn = self._turn(status, usage, error)
        event: dict[str, Any] = {"type": f"agent.session.turn.{kind}", "session_id": self.id}
        event.update(turn_id=self.turn_id, turn=turn)
        if kind != "created":
            event["usage"] = turn["usage"]
        self.publish(event)

    # --- inputs --------------------------------------------------------------------------------

    def start(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Add the user's messages and start a turn (the caller checked the session is idle)."""
        self.turn_id = self._ids("turn")
        for message in messages:
            content = [dict(c) for c in message.get("content") or []]
            self.items.append(
                {
                    "id": self._ids("msg"),
                    "type": "message",
                    "role": "user",
                    "status": "completed",
                    "content": content,
                    "turn_id": self.turn_id,
                }
            )
        self.status = "in_progress"
        self._task = asyncio.ensure_future(self._run())

    def answer(self, result: Mapping[str, Any]) -> bool:
        """A tool result for a pending call; False if no call of that id is pending."""
        call_id = result.get("call_id")
        pending = [r for r in self.required if r.get("call_id") == call_id]
        if not pending:
            return False
        self.required.remove(pending[0])
        output = result.get("output")
        if isinstance(output, list):
            output = "".join(str(p.get("text", "")) for p in output if isinstance(p, Mapping))
        self.items.append(
            {
                "id": self._ids("fco"),
                "type": "function_call_output",
                "call_id": call_id,
                "status": "completed" if result.get("success") else "failed",
                "output": output,
                "error": result.get("error"),
                "turn_id": self.turn_id,
            }
        )
        if not self.required:
            self._answered.set()
        return True

    def cancel(self) -> None:
        """Stop the running turn (``agent.session.input.cancel``)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def close(self) -> None:
        """Stop the turn and end every subscriber's stream (the session is deleted)."""
        self.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        for queue in list(self.subscribers):
            queue.put_nowait(None)

    # --- the turn ------------------------------------------------------------------------------

    async def _run(self) -> None:
        used = [0, 0]
        self._turn_event("created", "queued")
        self._session_event("in_progress")
        try:
            while True:
                messages = conversation(self.items, self.agent.get("instructions"))
                reply = scripted_reply(
                    messages,
                    model=str(self.agent.get("model")),
                    output_schema=output_schema(self.agent.get("text")),
                )
                used[0] += reply.input_tokens
                used[1] += reply.output_tokens
                self.tokens[0] += reply.input_tokens
                self.tokens[1] += reply.output_tokens
                await self._render(reply)
                if reply.error_code is not None:
                    self._fail(reply, used)
                    return
                if reply.stop_reason in _TURN_ERRORS:
                    self.status = "idle"
                    code, message = _TURN_ERRORS[reply.stop_reason]
                    error = {"code": code, "message": message}
                    self._turn_event("failed", "failed", used, error)
                    self._session_event("idle")
                    return
                if self.spend_limit is not None and self.consumed >= self.spend_limit:
                    self.status = "budget_reached"
                    self._turn_event("completed", "completed", used)
                    self._session_event("budget_reached")
                    return
                if not self.required:
                    if reply.tool_calls:
                        continue  # only the runtime's own tools ran: the model goes on
                    break
                self._answered.clear()
                self.status = "requires_action"
                self._session_event("requires_action")
                await self._answered.wait()
                self.status = "in_progress"
                self._session_event("in_progress")
        except asyncio.CancelledError:
            self.required.clear()
            self.status = "idle"
            self._turn_event("cancelled", "cancelled", used)
            self._session_event("idle")
            raise
        self.status = "idle"
        self._turn_event("completed", "completed", used)
        self._session_event("idle")

    def _fail(self, reply: ModelReply, used: list[int]) -> None:
        code, kind = _ERRORS.get(reply.error_code or "", (reply.error_code, "server_error"))
        error = {"code": code, "message": reply.error_message, "type": kind, "param": None}
        self.publish({"type": "error", "session_id": self.id, "error": error})
        self.status = "idle"
        self._turn_event("failed", "failed", used, {"code": code, "message": reply.error_message})
        self._session_event("idle")

    async def _render(self, reply: ModelReply) -> None:
        index = next(self._seq)
        if reply.thinking:
            item = self._item("reasoning", summary=[])
            self._added(item, index)
            for chunk in reply.thinking_chunks():
                self._delta("reasoning_summary_text", item, index, chunk, summary_index=0)
            item.update(summary=[{"type": "summary_text", "text": reply.thinking}])
            self._done(item, index)
        if reply.text:
            item = self._item("message", role="assistant", content=[], phase="final_answer")
            self._added(item, index)
            for n, chunk in enumerate(reply.chunks()):
                if reply.chunk_delay and n:
                    await asyncio.sleep(reply.chunk_delay)
                self._delta("output_text", item, index, chunk, content_index=0)
            item.update(content=[{"type": "output_text", "text": reply.text, "annotations": []}])
            cut = reply.stop_reason is StopReason.MAX_TOKENS  # cut by the output limit
            self._done(item, index, "incomplete" if cut else "completed")
        builtin = {t.get("type") for t in self.agent.get("tools") or []} - {"function"}
        for call in reply.tool_calls:
            if call.name in builtin:
                self._builtin(call, index)
                continue
            item = self._item(
                "function_call",
                call_id=f"{call.call_id}_{self._ids('c')}",
                name=call.name,
                arguments=json.dumps(dict(call.arguments)),
            )
            self._added(item, index)
            self._done(item, index)
            self.required.append(
                {
                    "type": "function_call",
                    "call_id": item["call_id"],
                    "name": call.name,
                    "arguments": item["arguments"],
                    "turn_id": self.turn_id,
                }
            )

    def _builtin(self, call: ToolCallRequest, index: int) -> None:
        """A call of the runtime's own tool (``web_search``): run here, shown as its item."""
        query = str(dict(call.arguments).get("query", ""))
        item = self._item(f"{call.name}_call", action={"type": "search", "query": query})
        self._added(item, index)
        self._done(item, index)

    def _item(self, kind: str, **fields: Any) -> dict[str, Any]:
        prefix = {"message": "msg", "reasoning": "rs", "function_call": "fc"}.get(kind, "ws")
        return {
            "id": self._ids(prefix),
            "type": kind,
            "status": "in_progress",
            "turn_id": self.turn_id,
            **fields,
        }

    def _added(self, item: dict[str, Any], index: int) -> None:
        self.publish(
            {
                "type": "agent.session.turn.item.added",
                "session_id": self.id,
                "turn_id": self.turn_id,
                "output_index": index,
                "item": dict(item),
            }
        )

    def _done(self, item: dict[str, Any], index: int, status: str = "completed") -> None:
        item["status"] = status
        self.items.append(item)
        self.publish(
            {
                "type": "agent.session.turn.item.done",
                "session_id": self.id,
                "turn_id": self.turn_id,
                "output_index": index,
                "item": dict(item),
            }
        )

    def _delta(
        self, kind: str, item: Mapping[str, Any], index: int, text: str, **where: int
    ) -> None:
        self.publish(
            {
                "type": f"agent.session.turn.{kind}.delta",
                "session_id": self.id,
                "turn_id": self.turn_id,
                "item_id": item["id"],
                "output_index": index,
                "delta": text,
                **where,
            }
        )
