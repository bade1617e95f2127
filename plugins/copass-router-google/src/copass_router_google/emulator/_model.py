"""The emulator's model: an ADK ``BaseLlm`` whose replies come from the router's scripted model.

ADK hands it an ``LlmRequest`` (the session's contents, the rendered instruction, the one
copass_dispatch declaration); it converts that into neutral chat messages, asks
:func:`copass_router.testing.scripted_reply`, and renders the reply the way Gemini answers: text
and thoughts streamed as partial responses, then one aggregated final response with usage and a
finish reason. A scripted ``/tool NAME {json}`` becomes ``copass_dispatch(tool_name=NAME,
arguments={json})``, the only call the deployed agent can make.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import attrs
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import Field

from copass_router import (
    ChatMessage,
    GenerationSettings,
    StopReason,
    ToolCallRequest,
    split_history,
)
from copass_router.testing import ModelReply, scripted_reply

from ._parts import genai_part

PROXY_TOOL = "copass_dispatch"

_FINISH = {
    StopReason.MAX_TOKENS: types.FinishReason.MAX_TOKENS,
    StopReason.REFUSAL: types.FinishReason.SAFETY,
}


#: Gemini's own bounds on the generation config.
MAX_TEMPERATURE = 2.0
MAX_STOP_SEQUENCES = 5


def generation_settings(config: types.GenerateContentConfig | None) -> GenerationSettings:
    """The generation settings a model call carries, checked as Gemini checks them."""
    if config is None:
        return GenerationSettings()
    temperature, limit = config.temperature, config.max_output_tokens
    stop = tuple(config.stop_sequences or ())
    if temperature is not None and not 0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be in [0.0, {MAX_TEMPERATURE}], got {temperature}")
    if limit is not None and limit < 1:
        raise ValueError(f"max_output_tokens must be positive, got {limit}")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop_sequences, got {len(stop)}")
    return GenerationSettings(temperature, limit, stop)


def _system_text(instruction: Any) -> str:
    if instruction is None:
        return ""
    if isinstance(instruction, str):
        return instruction
    parts = getattr(instruction, "parts", None) or []
    return "".join(p.text or "" for p in parts)


def _tool_message(response: types.FunctionResponse) -> ChatMessage:
    payload: Mapping[str, Any] = response.response or {}
    if response.name == PROXY_TOOL:
        name = str(payload.get("tool_name") or PROXY_TOOL)
        text = payload.get("output", payload.get("result", ""))
        is_error = bool(payload.get("is_error", False))
    else:
        name, text, is_error = str(response.name), payload.get("result", payload), False
    return ChatMessage(
        "tool",
        text if isinstance(text, str) else str(text),
        call_id=response.id,
        name=name,
        is_error=is_error,
    )


def _call_request(call: types.FunctionCall) -> ToolCallRequest:
    args: Mapping[str, Any] = call.args or {}
    if call.name == PROXY_TOOL:
        arguments = args.get("arguments")
        return ToolCallRequest(call.id or "", str(args.get("tool_name", "")), dict(arguments or {}))
    return ToolCallRequest(call.id or "", str(call.name), dict(args))


def chat_from_request(request: LlmRequest) -> list[ChatMessage]:
    """The neutral conversation in an ADK model request (history blocks expanded)."""
    messages: list[ChatMessage] = []
    system = _system_text(request.config.system_instruction if request.config else None)
    if system:
        messages.append(ChatMessage("system", system))
    for content in request.contents:
        parts = content.parts or []
        if content.role == "model":
            text = "".join(p.text or "" for p in parts if p.text and not p.thought)
            calls = tuple(_call_request(p.function_call) for p in parts if p.function_call)
            if text or calls:
                messages.append(ChatMessage("assistant", text, tool_calls=calls))
            continue
        for part in parts:
            if part.function_response:
                messages.append(_tool_message(part.function_response))
            elif part.text is not None and not part.thought:
                earlier, own = split_history(part.text)
                messages.extend(earlier)
                messages.append(ChatMessage("user", own))
            elif part.inline_data or part.file_data:  # joins the user text before it
                shown = genai_part(part)
                last = messages.pop() if messages and messages[-1].role == "user" else None
                last = last or ChatMessage("user", "")
                messages.append(attrs.evolve(last, parts=(*last.parts, shown)))
    return messages


def _usage(reply: ModelReply) -> types.GenerateContentResponseUsageMetadata:
    return types.GenerateContentResponseUsageMetadata(
        prompt_token_count=reply.input_tokens,
        candidates_token_count=reply.output_tokens,
        total_token_count=reply.input_tokens + reply.output_tokens,
    )


def _content(parts: list[types.Part]) -> types.Content:
    return types.Content(role="model", parts=parts)


def final_parts(reply: ModelReply) -> list[types.Part]:
    """The parts of the aggregated (non-partial) response."""
    parts: list[types.Part] = []
    if reply.thinking:
        parts.append(types.Part(text=reply.thinking, thought=True))
    if reply.text:
        parts.append(types.Part(text=reply.text))
    for call in reply.tool_calls:
        parts.append(
            types.Part(
                function_call=types.FunctionCall(
                    id=call.call_id,
                    name=PROXY_TOOL,
                    args={"tool_name": call.name, "arguments": dict(call.arguments)},
                )
            )
        )
    return parts


@attrs.frozen
class ModelCall:
    """One call ADK made to the model: the model name it asked for and the system instruction."""

    model: str
    system: str


class ScriptedGemini(BaseLlm):
    """A deterministic stand-in for Gemini, driven by the router's scripted model.

    Like ADK's ``Gemini``, it answers as the model ``llm_request.model`` names (what the agent's
    callbacks left there), falling back to its own ``model``; ``/whoami`` reports that name and
    the system instruction, and :attr:`calls` records both for every call.
    """

    model: str = "gemini-3.1-pro"
    calls: list[ModelCall] = Field(default_factory=list, exclude=True)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        """Answer one model call (partial chunks first when ``stream`` is set)."""
        model = llm_request.model or self.model
        config = llm_request.config
        self.calls.append(
            ModelCall(model, _system_text(config.system_instruction if config else None))
        )
        try:
            settings = generation_settings(config)
        except ValueError as exc:  # as Gemini refuses a bad config: 400 INVALID_ARGUMENT
            yield LlmResponse(error_code="INVALID_ARGUMENT", error_message=str(exc))
            return
        reply = scripted_reply(chat_from_request(llm_request), model=model, settings=settings)
        if reply.error_code:
            yield LlmResponse(
                error_code=reply.error_code,
                error_message=reply.error_message,
                usage_metadata=_usage(reply),
            )
            return
        if stream:
            for thought in reply.thinking_chunks():
                await self._pause(reply)
                yield LlmResponse(
                    content=_content([types.Part(text=thought, thought=True)]), partial=True
                )
            for chunk in reply.chunks():
                await self._pause(reply)
                yield LlmResponse(content=_content([types.Part(text=chunk)]), partial=True)
        yield LlmResponse(
            content=_content(final_parts(reply)),
            partial=False,
            turn_complete=True,
            finish_reason=_FINISH.get(reply.stop_reason, types.FinishReason.STOP),
            usage_metadata=_usage(reply),
            model_version=model,
        )

    @staticmethod
    async def _pause(reply: ModelReply) -> None:
        if reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
