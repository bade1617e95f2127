"""Dispatch callbacks that land on a worker other than the one running their run.

Decision: forward, never execute where the call lands. The run's stream, its tool-round count,
its per-run tools and its record of call ids all live in the worker running the turn, and a
ToolCall/ToolResult must appear in that stream; so a callback landing elsewhere is handed to
that worker (named, signed, in the run's token) through the coordinator, and its answer comes
back the same way. Every call of a run is thus executed by one process, which answers a
repeated call id with the first result without running the tool again, whichever worker the
repeat landed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from copass_router._errors import DispatchAuthError, InvalidRequestError, RouterError
from copass_router._events import ToolResult
from copass_router._trace_context import trace_headers


@attrs.frozen
class DispatchCall:
    """One ``copass_dispatch`` call, as every layer between the endpoint and the live run
    passes it on (the token, checked first, travels beside it)."""

    tool_name: str
    arguments: Mapping[str, Any]
    call_id: str
    #: The model response that asked for the call (calls of one response are one tool round).
    round_id: str | None = None
    #: The W3C trace headers the callback carried, already checked (``trace_headers``).
    trace_context: Mapping[str, str] = attrs.field(factory=dict)

    def message(self, token: str) -> dict[str, Any]:
        """The call as the JSON object a worker forwards."""
        message: dict[str, Any] = {
            "token": token,
            "tool_name": self.tool_name,
            "arguments": dict(self.arguments),
            "call_id": self.call_id,
            "round": self.round_id,
        }
        if self.trace_context:
            message["trace_context"] = dict(self.trace_context)
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> DispatchCall:
        """The call a forwarded JSON object carries (its trace headers checked again)."""
        return cls(
            str(message.get("tool_name")),
            message.get("arguments") or {},
            message.get("call_id"),  # type: ignore[arg-type]  # checked where it runs
            message.get("round"),
            trace_headers(message.get("trace_context") or {}),
        )


def result_answer(result: ToolResult) -> dict[str, Any]:
    """The owning worker's answer for a call it ran."""
    return {
        "result": {
            "call_id": result.call_id,
            "name": result.name,
            "output": result.output,
            "is_error": result.is_error,
            "run_id": result.run_id,
            "provider_data": result.provider_data,
        }
    }


def error_answer(exc: RouterError) -> dict[str, Any]:
    """The owning worker's answer for a call it refused."""
    return {
        "error": {
            "code": exc.code,
            "message": str(exc),
            "forbidden": bool(getattr(exc, "forbidden", False)),
            "field": getattr(exc, "field", None),
        }
    }


def read_answer(answer: Mapping[str, Any]) -> ToolResult:
    """The forwarded call's result, or the owner's refusal raised here."""
    if "result" in answer:
        data = answer["result"]
        result = ToolResult(
            call_id=str(data["call_id"]),
            name=str(data["name"]),
            output=data["output"],
            is_error=bool(data["is_error"]),
            provider_data=data.get("provider_data") or None,
        )
        return attrs.evolve(result, run_id=str(data.get("run_id") or ""))
    error = answer.get("error") or {}
    message = str(error.get("message") or "the run's worker refused the call")
    if error.get("code") == InvalidRequestError.code:
        raise InvalidRequestError(message, field=error.get("field"))
    if error.get("code") == DispatchAuthError.code:
        raise DispatchAuthError(message, forbidden=bool(error.get("forbidden")))
    raise RouterError(message)
