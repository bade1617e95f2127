"""One emulated Managed Agents session: its event log, live streams and the scripted agent loop.

The "model" is :func:`copass_router.testing.scripted_reply`: the session's event log is turned
into neutral chat messages, the scripted model picks the next step, and the step is rendered as
Managed Agents events (``span.model_request_start``, previews and deltas, ``agent.message``,
``agent.custom_tool_use``, ``session.status_idle``...). See docs in the plugin README.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from copass_router import StopReason, ToolCallRequest
from copass_router.testing import ModelReply, scripted_reply

from ._frames import text_delta_frames
from ._model import BUILTIN_TOOLS, conversation, error_type_for
from ._parts import BlockError, block_part
from ._state import ApiError, EmulatorState, new_id, now_iso

_MAX_ROUNDS = 50


class Subscriber:
    """One open event stream: a queue and the previews it asked for."""

    def __init__(self, deltas: frozenset[str]) -> None:
        #: Events, or frames already written (text deltas); None ends the stream.
        self.queue: asyncio.Queue[dict[str, Any] | str | None] = asyncio.Queue()
        self.deltas = deltas


class SessionEngine:
    """The live side of one session; ``session`` is the resource dict the API returns."""

    def __init__(self, state: EmulatorState, session: dict[str, Any]) -> None:
        self.state = state
        self.session = session
        self.log: list[dict[str, Any]] = []
        self.subscribers: set[Subscriber] = set()
        self.pending: dict[str, dict[str, Any]] = {}
        self._answered = asyncio.Event()
        self._confirmations: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._unhandled = False
        self._open_span: str | None = None

    # --- streams ---------------------------------------------------------------------------

    def subscribe(self, deltas: frozenset[str]) -> Subscriber:
        sub = Subscriber(deltas)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, event: dict[str, Any], *, preview_of: str | None = None) -> dict[str, Any]:
        """Record ``event`` and send it to every stream (previews only to streams asking)."""
        if preview_of is None:
            self.log.append(event)
        for sub in list(self.subscribers):
            if preview_of is None or preview_of in sub.deltas:
                sub.queue.put_nowait(event)
        return event

    def preview(self, frame: str, of: str) -> None:
        """Send an already written preview (a text delta's frame) to the streams asking."""
        for sub in list(self.subscribers):
            if of in sub.deltas:
                sub.queue.put_nowait(frame)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.publish(
            {"type": kind, "id": new_id("sevt"), "processed_at": now_iso(), **fields}
        )

    def close_streams(self) -> None:
        for sub in list(self.subscribers):
            sub.queue.put_nowait(None)

    # --- client events ---------------------------------------------------------------------

    def accept(
        self, events: list[Any]
    ) -> tuple[list[dict[str, Any]], Callable[[], Awaitable[None]]]:
        """Validate and record events a client sent: returns them with ids, as the API does,
        and what starts the agent's work on them, to call once the client has its answer (the
        API acknowledges events before the agent acts on them)."""
        if self.session["status"] == "terminated":
            raise ApiError(400, "invalid_request_error", "session is terminated")
        stored = []
        for raw in events:
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                raise ApiError(400, "invalid_request_error", "events: each event needs a type")
            self._check(raw)
        for raw in events:
            event = {**raw, "id": new_id("sevt"), "processed_at": now_iso()}
            stored.append(self.publish(event))
            self._record(event)

        async def react() -> None:  # async: Starlette runs a sync background in a thread
            for event in stored:
                self._react(event)

        return stored, react

    def _record(self, event: dict[str, Any]) -> None:
        # What the next request's checks must already see: an answered call is answered.
        kind = event["type"]
        if kind in ("user.custom_tool_result", "user.tool_confirmation"):
            key = str(event.get("custom_tool_use_id") or event.get("tool_use_id"))
            self.pending.pop(key, None)

    def _check(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if (
            kind == "user.custom_tool_result"
            and event.get("custom_tool_use_id") not in self.pending
        ):
            raise ApiError(
                400, "invalid_request_error", "custom_tool_use_id is not awaiting a result"
            )
        if kind == "user.tool_confirmation" and event.get("tool_use_id") not in self.pending:
            raise ApiError(400, "invalid_request_error", "tool_use_id is not awaiting confirmation")
        if kind == "user.message" and not isinstance(event.get("content"), list):
            raise ApiError(400, "invalid_request_error", "user.message: content must be a list")
        if kind == "user.message":
            try:
                for n, block in enumerate(event["content"]):
                    block_part(block if isinstance(block, dict) else {}, f"content.{n}")
            except BlockError as exc:
                raise ApiError(400, "invalid_request_error", str(exc)) from None

    def _react(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "user.message":
            self._unhandled = True
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run())
        elif kind == "user.interrupt":
            self.state.interrupts += 1
            self._unhandled = False  # an interrupt flushes queued input
            if self._task is not None and not self._task.done():
                self._task.cancel()
        elif kind in ("user.custom_tool_result", "user.tool_confirmation"):
            key = str(event.get("custom_tool_use_id") or event.get("tool_use_id"))
            if kind == "user.tool_confirmation":
                self._confirmations[key] = event
            if not self.pending:
                self._answered.set()
            elif self.session["status"] == "idle":
                self._idle({"type": "requires_action", "event_ids": list(self.pending)})

    # --- the agent loop ------------------------------------------------------------------

    def _status(self, status: str) -> None:
        self.session["status"] = status
        self.session["updated_at"] = now_iso()
        if status == "running":
            self._event("session.status_running")
        elif status == "terminated":
            self._event("session.status_terminated")

    def _idle(self, stop_reason: dict[str, Any], **extra: Any) -> None:
        self.session["status"] = "idle"
        self._event("session.status_idle", stop_reason=stop_reason, **extra)

    async def _run(self) -> None:
        try:
            while self._unhandled:
                self._unhandled = False
                self._status("running")
                if not await self._agent_turn():
                    return
        except asyncio.CancelledError:
            # user.interrupt: close what is open and hand control back to the user.
            if self._open_span is not None:
                self._end_span(self._open_span, ModelReply(), is_error=True)
            self.pending.clear()
            self._usage_snapshot()
            self._idle({"type": "end_turn"})
            if self._unhandled:  # a message sent after the interrupt starts a new run
                self._task = asyncio.create_task(self._run())

    async def _agent_turn(self) -> bool:
        """One turn: model requests and tool rounds until the agent stops. False: stop the run."""
        reply = ModelReply()
        for _ in range(_MAX_ROUNDS):
            step = await self._model_request()
            if step is None:
                return False
            reply = step
            if not reply.tool_calls:
                break
            await self._tool_round(reply.tool_calls)
            self._status("running")
        self._usage_snapshot()
        forced = self.state.faults.stop_reason
        self.state.faults.stop_reason = None
        if forced is not None:
            self._idle({"type": forced})
        elif reply.stop_reason is StopReason.REFUSAL:
            details = {"type": "refusal", "category": None, "explanation": "scripted refusal"}
            self._idle({"type": "refusal"}, stop_details=details)
        else:
            self._idle({"type": "end_turn"})
        return True

    async def _model_request(self) -> ModelReply | None:
        start = self._event("span.model_request_start")
        self._open_span = start["id"]
        injected, self.state.faults.inject = self.state.faults.inject, []
        for extra in injected:
            self.publish({"id": new_id("sevt"), "processed_at": now_iso(), **extra})
        if not self._scripted_fault(start["id"]):
            return None
        agent = self.session["agent"]
        system = agent.get("system")
        model = agent.get("model")
        model_id = model.get("id") if isinstance(model, dict) else model
        reply = scripted_reply(conversation(self.log, system), model=model_id)
        if reply.error_code is not None:
            self._error(error_type_for(reply.error_code), reply.error_message, "exhausted")
            self._end_span(start["id"], reply, is_error=True)
            self._idle({"type": "retries_exhausted"})
            return None
        delay = reply.chunk_delay + self.state.faults.chunk_delay
        if reply.thinking:
            thinking_id = new_id("sevt")
            self.publish(self._start(thinking_id, "agent.thinking"), preview_of="agent.thinking")
            await asyncio.sleep(delay)
            self.publish({"type": "agent.thinking", "id": thinking_id, "processed_at": now_iso()})
        if reply.text:
            await self._stream_text(reply, delay)
        self._end_span(start["id"], reply, is_error=False)
        return reply

    def _scripted_fault(self, span_id: str) -> bool:
        """Emit the switched-on ``session.error``; False when it ends the turn."""
        faults = self.state.faults
        if faults.session_error is None:
            return True
        error_type, retry = faults.session_error, faults.session_error_retry
        faults.session_error = None
        self._error(error_type, "emulated session error", retry)
        if retry == "retrying":
            return True
        self._end_span(span_id, ModelReply(), is_error=True)
        if retry == "terminal":
            self._status("terminated")
        else:
            self._usage_snapshot()
            self._idle({"type": "retries_exhausted"})
        return False

    def _error(self, error_type: str, message: str, retry: str) -> None:
        error = {"type": error_type, "message": message, "retry_status": {"type": retry}}
        self._event("session.error", error=error)

    @staticmethod
    def _start(event_id: str, kind: str) -> dict[str, Any]:
        return {"type": "event_start", "event": {"type": kind, "id": event_id}}

    async def _stream_text(self, reply: ModelReply, delay: float) -> None:
        message_id = new_id("sevt")
        self.publish(self._start(message_id, "agent.message"), preview_of="agent.message")
        delta_frame = text_delta_frames(message_id, 0)
        for chunk in reply.chunks():
            if delay:
                await asyncio.sleep(delay)
            self.preview(delta_frame(chunk), "agent.message")
        content = [{"type": "text", "text": reply.text}]
        self.publish(
            {
                "type": "agent.message",
                "id": message_id,
                "processed_at": now_iso(),
                "content": content,
            }
        )

    def _end_span(self, start_id: str, reply: ModelReply, *, is_error: bool) -> None:
        self._open_span = None
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        totals = self.session["usage"]
        totals["input_tokens"] += reply.input_tokens
        totals["output_tokens"] += reply.output_tokens
        if self.state.faults.hide_spans:
            return  # counted in the session's usage, never reported by a span
        self._event(
            "span.model_request_end",
            model_request_start_id=start_id,
            model_usage=usage,
            is_error=is_error,
        )

    def _usage_snapshot(self) -> None:
        self._event("session.usage", usage=dict(self.session["usage"]))

    # --- tools -----------------------------------------------------------------------------

    def _tool_event(self, call: ToolCallRequest) -> dict[str, Any]:
        agent = self.session["agent"]
        custom = {t["name"] for t in agent["tools"] if t.get("type") == "custom"}
        toolset = next(
            (t for t in agent["tools"] if t.get("type") == "agent_toolset_20260401"), None
        )
        servers = {s["name"] for s in agent.get("mcp_servers", [])}
        base = {"id": new_id("sevt"), "processed_at": now_iso(), "input": dict(call.arguments)}
        server, _, mcp_name = call.name.partition(".")
        if call.name not in custom and toolset is not None and call.name in BUILTIN_TOOLS:
            permission = self._permission(toolset)
            return {
                **base,
                "type": "agent.tool_use",
                "name": call.name,
                "evaluated_permission": permission,
            }
        if call.name not in custom and mcp_name and server in servers:
            permission = self.state.faults.builtin_permission
            return {
                **base,
                "type": "agent.mcp_tool_use",
                "name": mcp_name,
                "mcp_server_name": server,
                "evaluated_permission": permission,
            }
        return {**base, "type": "agent.custom_tool_use", "name": call.name}

    def _permission(self, toolset: dict[str, Any]) -> str:
        policy = (toolset.get("default_config") or {}).get("permission_policy") or {}
        if policy.get("type") == "always_ask":
            return "ask"
        return self.state.faults.builtin_permission

    async def _tool_round(self, calls: tuple[ToolCallRequest, ...]) -> None:
        uses = [self._tool_event(call) for call in calls]
        waiting = [
            u
            for u in uses
            if u["type"] == "agent.custom_tool_use" or u.get("evaluated_permission") == "ask"
        ]
        self._answered.clear()
        self.pending = {u["id"]: u for u in waiting}
        announced = False
        if waiting and self.state.faults.idle_before_tool_use:
            self._idle({"type": "requires_action", "event_ids": [u["id"] for u in waiting]})
            announced = True
        for use in uses:
            self.publish(use)
            if use["type"] != "agent.custom_tool_use" and use.get("evaluated_permission") != "ask":
                self._tool_result(use, allowed=use.get("evaluated_permission") == "allow")
        if waiting and not announced:
            self._idle({"type": "requires_action", "event_ids": [u["id"] for u in waiting]})
        if self.pending:
            await self._answered.wait()
        for use in waiting:
            confirmation = self._confirmations.pop(use["id"], None)
            if confirmation is not None:
                self._tool_result(use, allowed=confirmation.get("result") == "allow")

    def _tool_result(self, use: dict[str, Any], *, allowed: bool) -> None:
        text = f"{use['name']} ran with {use['input']}" if allowed else "permission denied"
        content = [{"type": "text", "text": text}]
        if use["type"] == "agent.mcp_tool_use":
            self._event(
                "agent.mcp_tool_result",
                mcp_tool_use_id=use["id"],
                content=content,
                is_error=not allowed,
            )
        else:
            self._event(
                "agent.tool_result", tool_use_id=use["id"], content=content, is_error=not allowed
            )

    async def shutdown(self) -> None:
        """Stop the agent loop (the session is deleted or the server stops)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
