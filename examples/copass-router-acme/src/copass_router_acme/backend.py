"""Acme Chat: a chat API that streams its reply as newline-delimited JSON."""

from collections.abc import Iterable, Mapping
from typing import Any

from copass_router import (
    ChatMessage,
    ChatRequest,
    Error,
    HttpChatBackend,
    Piece,
    StopReason,
    TextDelta,
    ToolCallRequest,
    Turn,
    Usage,
)
from copass_router_acme import FIELDS, OPTIONS

STOPS = {"stop": StopReason.END_TURN, "length": StopReason.MAX_TOKENS}
CODES = {"quota": "rate_limited", "busy": "overloaded", "bad_request": "invalid_request"}


class AcmeBackend(HttpChatBackend):
    default_model = "acme-1"
    base_url_env = "ACME_BASE_URL"
    api_key_env = "ACME_API_KEY"
    generation_settings = frozenset({"temperature", "max_output_tokens"})  # no stop sequences
    request_fields, request_options = FIELDS, OPTIONS  # what a run may set for Acme

    def build_request(self, turn: Turn, messages: list[ChatMessage]) -> ChatRequest:
        tools = [
            {"name": t.name, "about": t.description, "schema": t.parameters} for t in turn.tools
        ]
        g = turn.generation  # a setting the run leaves unset is None: Acme's default
        sampling = {"temperature": g.temperature, "max_tokens": g.max_output_tokens}
        body = {"model": turn.model, "messages": [_message(m) for m in messages], "tools": tools}
        # Acme takes its fields and options as body fields; only the declared ones reach here.
        return ChatRequest("/v1/chat", {**turn.options, **turn.provider_fields, **body, **sampling})

    def read_chunk(self, chunk: Mapping[str, Any]) -> Iterable[Piece]:
        if "text" in chunk:
            yield TextDelta(text=chunk["text"])
        for call in chunk.get("calls", ()):
            yield ToolCallRequest(call["id"], call["name"], call["args"])
        if "usage" in chunk:
            yield Usage(input_tokens=chunk["usage"]["in"], output_tokens=chunk["usage"]["out"])
        if "error" in chunk:
            kind, message = chunk["error"]["kind"], chunk["error"]["message"]
            yield Error(code=CODES.get(kind, kind), message=message, provider=self.provider)
            yield StopReason.ERROR
        if "done" in chunk:
            yield STOPS.get(chunk["done"], StopReason.REFUSAL)

    def error_code(self, status: int, body: Any) -> str | None:
        return CODES.get(body.get("kind", "")) if isinstance(body, dict) else None


def _message(m: ChatMessage) -> dict[str, Any]:
    calls = [{"id": c.call_id, "name": c.name, "args": dict(c.arguments)} for c in m.tool_calls]
    return {"role": m.role, "text": m.text, "calls": calls, "call_id": m.call_id, "name": m.name}
