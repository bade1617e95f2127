"""The ``gemini-agents`` backend: a turn on Gemini's Interactions API (``google-genai``).

Each model request is one interaction, streamed. The service keeps the conversation: the next
interaction names the last one as ``previous_interaction_id`` and sends only what is new (the
user's message, or the ``function_result`` steps answering the model's function calls), so
reasoning stays inside the chain, with the runtime that produced it. The router's tools are
offered as function tools and run in the router (the core's chat loop: calls in parallel, the
tool-round cap, retries before output). A session's binding is the last interaction of its
chain; turns another provider ran arrive as the API's own steps (``user_input``,
``model_output``, ``function_call``, ``function_result``), never as one pasted blob.

Settings (the router's environment): ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``),
``GEMINI_BASE_URL`` (e.g. the emulator), ``COPASS_GEMINI_AGENTS_MAX_RETRIES`` (the SDK's own
retries, default 0: the core retries). Built-in tools (``code_execution``, ``google_search``,
``url_context``) are the operator's to enable: ``Router(provider_settings={"gemini-agents":
{"builtin_tools": [...]}})`` or ``COPASS_GEMINI_AGENTS_BUILTIN_TOOLS=a,b``; a run cannot.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import types as genai_types

from copass_router import (
    AgentBackend,
    BackendContext,
    Binding,
    ChatMessage,
    ConfigurationError,
    Event,
    InvalidRequestError,
    ModelStep,
    RunRequest,
    StopReason,
    Turn,
    env_int,
    get_logger,
    run_chat_loop,
    transcript_messages,
)

from .interactions_errors import connection_error, status_error, stream_incomplete
from .interactions_translate import PROVIDER, StreamTranslator, input_steps

log = get_logger("copass_router_google.interactions_backend")

API_VERSION = "v1beta"
BUILTIN_TOOLS = ("code_execution", "google_search", "url_context")
OPTIONS: Mapping[str, type | tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_output_tokens": int,
    "thinking_level": str,
}
#: Bounds the provider-side cancel of an abandoned interaction (best effort, never blocks long).
CANCEL_TIMEOUT = 5.0
#: Interactions remembered per session for clean-up (the oldest are dropped beyond this).
MAX_REMEMBERED = 500


class GeminiAgentsBackend(AgentBackend):
    """Gemini's Interactions API: one interaction per model request, chained per session."""

    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = OPTIONS
    default_model: ClassVar[str | None] = "gemini-2.5-flash"
    keeps_native_session: ClassVar[bool] = True

    def __init__(self, context: BackendContext) -> None:
        env = context.environ
        self._api_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None
        self._base_url = env.get("GEMINI_BASE_URL") or None
        self._max_retries = env_int(env, "COPASS_GEMINI_AGENTS_MAX_RETRIES", 0)
        configured = context.settings.get("builtin_tools")
        if configured is None:
            raw = env.get("COPASS_GEMINI_AGENTS_BUILTIN_TOOLS", "")
            configured = [t.strip() for t in raw.split(",") if t.strip()]
        unknown = sorted(set(configured) - set(BUILTIN_TOOLS))
        if unknown:
            raise ConfigurationError(
                f"unknown gemini-agents built-in tool {unknown[0]!r}; "
                f"the operator may enable {', '.join(BUILTIN_TOOLS)}"
            )
        self.builtin_tools: tuple[str, ...] = tuple(configured)
        self._client_obj: genai.Client | None = None
        self._interactions: Any = None

    def _client(self) -> genai.Client:
        if self._client_obj is None:
            if not self._api_key:
                raise ConfigurationError(_MISSING_KEY)
            # Everything explicit: the SDK would otherwise read the process environment
            # (GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_CLOUD_PROJECT...) and may go to Vertex AI.
            options = genai_types.HttpOptions(base_url=self._base_url, api_version=API_VERSION)
            self._client_obj = genai.Client(
                vertexai=False, api_key=self._api_key, http_options=options
            )
            self._interactions = self._client_obj.aio.interactions
            # The core retries what is retryable (RetryPolicy), so the SDK's own retries are
            # off unless asked for. ``retry_options.attempts`` cannot say "none" here (this SDK
            # version turns it into at least one retry), so the retry count is set on the
            # resource's configuration.
            config = self._interactions.sdk_configuration
            retry = copy.copy(config.retry_config)
            retry.max_retries = self._max_retries
            retry.retry_connection_errors = self._max_retries > 0
            config.retry_config = retry
        return self._client_obj

    def interactions(self) -> Any:
        """The SDK's ``client.aio.interactions`` resource."""
        self._client()
        return self._interactions

    def validate(self, request: RunRequest) -> None:
        """Refuse a run that cannot reach the API before anything is sent."""
        if self._client_obj is None and not self._api_key:
            raise ConfigurationError(_MISSING_KEY)
        level = request.options.get("thinking_level")
        if level is not None and level not in ("minimal", "low", "medium", "high"):
            raise InvalidRequestError(
                "option thinking_level must be minimal, low, medium or high", field="options"
            )

    async def aclose(self) -> None:
        client, self._client_obj = self._client_obj, None
        if client is not None:
            await client.aio.aclose()

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete every interaction of the session's chain (already gone is fine)."""
        ids = list(binding.data.get("interactions") or ()) or [binding.native_id]
        api = self.interactions()
        for interaction_id in ids:
            try:
                await api.delete(interaction_id)
            except sdk_errors.NotFoundError:
                continue
            except sdk_errors.APIStatusError as exc:
                raise status_error(exc, "delete the session's interactions") from None

    # --- a turn ----------------------------------------------------------------------------

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run the turn through the core's chat loop, one interaction per model request."""
        chain = _Chain(self, turn)
        try:
            async with aclosing(run_chat_loop(turn, chain.step)) as events:
                async for event in events:
                    yield event
        finally:
            await chain.abandon()
        if chain.completed is not None:
            turn.bind(chain.completed, {"interactions": chain.remembered(), "model": turn.model})

    def body(self, turn: Turn) -> dict[str, Any]:
        """The fields every interaction of ``turn`` carries besides its input."""
        body: dict[str, Any] = {"model": turn.model, "stream": True, "store": True}
        if turn.system:
            body["system_instruction"] = turn.system
        tools: list[dict[str, Any]] = [
            {
                "type": "function",
                "name": spec.name,
                "description": spec.description,
                "parameters": dict(spec.parameters),
            }
            for spec in turn.tools
        ]
        tools.extend({"type": name} for name in self.builtin_tools)
        if tools:
            body["tools"] = tools
        config = {k: turn.options[k] for k in OPTIONS if k in turn.options}
        if config:
            body["generation_config"] = config
        # One stable, opaque label per end user: tenants never merge, no raw user id leaves.
        digest = hashlib.sha256(turn.end_user_id.encode()).hexdigest()[:32]
        body["labels"] = {"copass_end_user": digest}
        return body


class _Chain:
    """The interactions of one turn: what the service has seen, and the step function."""

    def __init__(self, backend: GeminiAgentsBackend, turn: Turn) -> None:
        self.backend = backend
        self.turn = turn
        binding = turn.binding
        self.previous: str | None = binding.native_id if binding is not None else None
        self._known: list[str] = list((binding.data.get("interactions") or ()) if binding else ())
        #: Messages of the core's list the service already holds (the system prompt is no step).
        self.seen = 1 if turn.system else 0
        self.history_end = self.seen + len(transcript_messages(turn.history))
        #: The last interaction that completed with nothing pending (the session's binding).
        self.completed: str | None = None
        self._running: str | None = None

    def remembered(self) -> list[str]:
        return self._known[-MAX_REMEMBERED:]

    async def step(self, messages: list[ChatMessage]) -> AsyncGenerator[Event | ModelStep]:
        """One interaction: the new messages as steps, streamed back as neutral events."""
        api = self.backend.interactions()
        body = self.backend.body(self.turn)
        try:
            stream = await self._create(api, body, messages)
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

    async def _create(self, api: Any, body: dict[str, Any], messages: list[ChatMessage]) -> Any:
        new = messages[self.seen :]
        if self.previous is None:
            return await api.create(**body, input=input_steps(new), automatic_continuation=False)
        try:
            return await api.create(
                **body,
                input=input_steps(new),
                previous_interaction_id=self.previous,
                automatic_continuation=False,
            )
        except sdk_errors.NotFoundError:
            # The chain is gone (deleted, expired): start a new one from the transcript.
            log.info("interaction_chain_gone", interaction_id=self.previous)
            self.previous = None
            earlier = transcript_messages(
                [t for t in await self.turn.full_history() if t.run_id != self.turn.run_id]
            )
            this_turn = messages[self.history_end :]
            return await api.create(
                **body, input=input_steps([*earlier, *this_turn]), automatic_continuation=False
            )

    async def abandon(self) -> None:
        """Cancel the interaction still running when the turn ends early (consumer gone,
        timeout, tool cap): the service must not go on generating for no one."""
        running, self._running = self._running, None
        if running is None:
            return
        api = self.backend.interactions()
        try:
            await asyncio.wait_for(asyncio.shield(api.cancel(running)), CANCEL_TIMEOUT)
        except (sdk_errors.APIError, TimeoutError) as exc:
            log.info("cancel_failed", interaction_id=running, error=type(exc).__name__)


_MISSING_KEY = (
    "GEMINI_API_KEY is not set: the gemini-agents provider needs a Gemini API key "
    "(or set GEMINI_BASE_URL to an emulator, e.g. `copass-router emulate gemini-agents`, "
    "with its key)"
)


def make_backend(context: BackendContext) -> GeminiAgentsBackend:
    """The factory the plugin registers for ``gemini-agents``."""
    return GeminiAgentsBackend(context)


__all__ = ["PROVIDER", "GeminiAgentsBackend", "make_backend"]
