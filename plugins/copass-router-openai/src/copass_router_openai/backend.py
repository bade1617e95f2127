"""The ``openai`` and ``openai-compatible`` backends: Chat Completions, streamed.

Both are stateless: every model request carries the whole conversation (the router's transcript,
so a session started on another provider continues here with its memory). Tool calls go through
the core's shared chat loop and dispatcher, capped at the run's ``max_tool_rounds``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

import attrs
import openai

from copass_router import (
    GENERATION_FIELDS,
    PROVIDER_SDK_RETRIES,
    AgentBackend,
    BackendContext,
    ChatMessage,
    ConfigurationError,
    Event,
    InvalidRequestError,
    ModelStep,
    PartSupport,
    RequestOption,
    RunRequest,
    StopReason,
    Turn,
    env_int,
    run_chat_loop,
    shared_tls_context,
)

from .chunk_stream import open_chunk_stream
from .errors import (
    connection_error,
    status_error,
    stream_error_event,
    stream_incomplete,
)
from .parts import COMPATIBLE_PARTS, OPENAI_PARTS
from .request import ToolNames, wire_messages, wire_tools
from .streams import stream_http_client
from .structured import response_format
from .translate import ChunkTranslator

OPENAI_BASE_URL = "https://api.openai.com/v1"
COMPATIBLE_BASE_URL = "http://localhost:11434/v1"  # Ollama's default

#: Options passed to the API as they are. (Temperature, the token limit and stop sequences are
#: the run's own fields: ``temperature``, ``max_output_tokens``, ``stop``.)
_PASSTHROUGH = ("top_p", "seed", "reasoning_effort", "parallel_tool_calls")
_OPTIONS: Mapping[str, RequestOption] = {
    "top_p": RequestOption((int, float), help="nucleus sampling"),
    "seed": RequestOption(int, help="a seed for repeatable sampling"),
    "reasoning_effort": RequestOption(str, help="how hard a reasoning model thinks"),
    "parallel_tool_calls": RequestOption(bool, help="whether one reply may call several tools"),
    "max_retries": RequestOption(int, help="the SDK's own retries of this run's requests"),
    "include_usage": RequestOption(
        bool, help="usage in the stream", operator="always true: every call is metered"
    ),
    "extra_body": RequestOption(
        Mapping,
        help="more request fields, sent as given",
        operator="may not name service_tier, store or another operator-owned field, nor one "
        "the router sets",
    ),
}
#: Request fields that change what a call costs or what the provider keeps: the operator's to
#: decide (in the server's configuration), never a run's, so ``extra_body`` may not name them.
OPERATOR_OWNED = frozenset(
    {"service_tier", "store", "prediction", "modalities", "audio", "web_search_options"}
)
#: The highest ``max_output_tokens`` a run may ask for (``COPASS_ROUTER_OPENAI_MAX_TOKENS``).
MAX_TOKENS_CEILING = 131_072
MAX_TOKENS_ENV = "COPASS_ROUTER_OPENAI_MAX_TOKENS"
#: Request fields the router sets (what runs, for whom, on what, how much, how it streams).
#: ``extra_body`` is merged over the request by the SDK, so it may not name any of them.
ROUTER_OWNED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "safety_identifier",
        "user",
        "temperature",
        "stop",
        "response_format",
        *_PASSTHROUGH,
    }
)


@attrs.frozen
class Endpoint:
    """Where a request goes and with which key (None: send no Authorization header)."""

    base_url: str
    api_key: str | None


class ChatCompletionsBackend(AgentBackend):
    """Shared by both providers; subclasses say where requests go and what they accept."""

    keeps_native_session: ClassVar[bool] = False
    request_options: ClassVar[Mapping[str, RequestOption]] = _OPTIONS
    generation_settings: ClassVar[frozenset[str]] = frozenset(GENERATION_FIELDS)
    structured_output: ClassVar[bool] = True  # response_format json_schema
    #: The request field ``max_output_tokens`` goes in.
    max_tokens_field: ClassVar[str] = "max_tokens"

    def __init__(self, context: BackendContext) -> None:
        self.provider = context.provider
        self.environ = context.environ
        # The core retries what is retryable (RetryPolicy); the SDK's own are off unless asked.
        self.max_retries = env_int(
            context.environ, "COPASS_ROUTER_OPENAI_MAX_RETRIES", PROVIDER_SDK_RETRIES
        )
        self.max_tokens_ceiling = env_int(
            context.environ, MAX_TOKENS_ENV, MAX_TOKENS_CEILING, minimum=1
        )
        self._clients: dict[Endpoint, openai.AsyncOpenAI] = {}

    # -- what subclasses decide ----------------------------------------------------------------

    def endpoint(self, options: Mapping[str, Any]) -> Endpoint:
        """The endpoint for a run with ``options``."""
        raise NotImplementedError

    def client_headers(self, endpoint: Endpoint) -> dict[str, Any]:
        """Default headers of a new client."""
        return {}

    def extra_body(self, turn: Turn) -> dict[str, Any]:
        """Fields sent beside the standard ones."""
        return dict(turn.options.get("extra_body") or {})

    # -- the contract --------------------------------------------------------------------------

    def validate(self, request: RunRequest) -> None:
        """Refuse unknown options and ill-typed ones before anything is sent."""
        retries = request.options.get("max_retries")
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise InvalidRequestError("option max_retries must be an int >= 0", field="options")
        extra = request.options.get("extra_body")
        if extra is not None and not isinstance(extra, Mapping):
            raise InvalidRequestError("option extra_body must be a mapping", field="options")
        if request.options.get("include_usage", True) is not True:
            raise InvalidRequestError(
                "option include_usage cannot be switched off: the router meters every model "
                "call from the usage the provider reports",
                field="options.include_usage",
            )
        tokens = request.max_output_tokens
        if tokens is not None and tokens > self.max_tokens_ceiling:
            raise InvalidRequestError(
                f"max_output_tokens must be at most {self.max_tokens_ceiling} here "
                f"(the operator's ceiling, {MAX_TOKENS_ENV})",
                field="max_output_tokens",
            )
        kept = sorted(str(k) for k in extra or () if k in OPERATOR_OWNED)
        if kept:
            raise InvalidRequestError(
                f"options.extra_body cannot set {kept[0]!r}: it changes what a call costs or "
                "what the provider keeps, which the router's operator decides",
                field=f"options.extra_body.{kept[0]}",
            )
        owned = sorted(str(k) for k in extra or () if k in ROUTER_OWNED)
        if owned:
            raise InvalidRequestError(
                f"options.extra_body cannot set {owned[0]!r}: the router sets that field "
                "(use the run's own fields and options for model, limits and sampling, and "
                "output_schema=... for response_format)",
                field=f"options.extra_body.{owned[0]}",
            )
        self.endpoint(request.options)

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run the turn through the shared chat loop, one streamed request per model step."""
        endpoint = self.endpoint(turn.options)
        # A new SDK client loads TLS certificates: built in a thread, not on the event loop.
        known = self._clients.get(endpoint)
        client = known if known is not None else await asyncio.to_thread(self._client, endpoint)
        retries = turn.options.get("max_retries")
        if retries is not None:
            client = client.with_options(max_retries=retries)
        names = ToolNames(spec.name for spec in turn.tools)

        def step(messages: list[ChatMessage]) -> AsyncGenerator[Event | ModelStep]:
            return self._step(client, endpoint, turn, names, messages)

        # A consumer that stops early closes the chat loop, which closes the step (and its
        # stream) at once: the provider stops generating.
        async with aclosing(run_chat_loop(turn, step)) as events:
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Close every client's connection pool."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    # -- one model request ---------------------------------------------------------------------

    def _client(self, endpoint: Endpoint) -> openai.AsyncOpenAI:
        client = self._clients.get(endpoint)
        if client is None:
            # Every request this backend sends is a stream: all go through the stream client
            # (the SDK's own pooled client where a proxy applies).
            http_client = stream_http_client(endpoint.base_url) or openai.DefaultAsyncHttpxClient(
                verify=shared_tls_context()
            )
            client = openai.AsyncOpenAI(
                api_key=endpoint.api_key or "no-key",
                base_url=endpoint.base_url,
                max_retries=self.max_retries,
                default_headers=self.client_headers(endpoint),
                http_client=http_client,
            )
            self._clients[endpoint] = client
        return client

    def _body(
        self, endpoint: Endpoint, turn: Turn, names: ToolNames, messages: list[ChatMessage]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": turn.model,
            "messages": wire_messages(messages, names),
            "stream": True,
        }
        body["stream_options"] = {"include_usage": True}  # how the call is metered: always
        if turn.tools:
            body["tools"] = wire_tools(turn.tools, names)
        for name in _PASSTHROUGH:
            if name in turn.options and (name != "parallel_tool_calls" or turn.tools):
                body[name] = turn.options[name]
        settings = turn.generation
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        if settings.max_output_tokens is not None:
            body[self.max_tokens_field] = settings.max_output_tokens
        if settings.stop:
            body["stop"] = list(settings.stop)
        if turn.output_schema is not None:
            body["response_format"] = response_format(turn.output_schema)
        extra = self.extra_body(turn)
        if extra:
            body["extra_body"] = extra
        if endpoint.api_key is None:
            # The SDK insists on a key; with none configured, no Authorization header is sent
            # (the SDK accepts only a per-request omission).
            body["extra_headers"] = {"Authorization": openai.Omit()}
        return body

    async def _step(
        self,
        client: openai.AsyncOpenAI,
        endpoint: Endpoint,
        turn: Turn,
        names: ToolNames,
        messages: list[ChatMessage],
    ) -> AsyncGenerator[Event | ModelStep]:
        try:
            # Read by the plugin, not the SDK's stream (see chunk_stream).
            body = self._body(endpoint, turn, names, messages)
            stream = await open_chunk_stream(
                client.chat.completions.with_streaming_response.create(**body)
            )
        except openai.APIStatusError as exc:
            raise status_error(exc, self.provider) from None
        except openai.APIConnectionError as exc:
            raise connection_error(exc, self.provider, endpoint.base_url, streaming=False) from None
        translator = ChunkTranslator(self.provider)
        try:
            async with stream:
                async for chunk in stream:
                    for event in translator.feed(chunk):
                        yield event
        except openai.APIConnectionError as exc:
            for event in translator.flush():
                yield event
            raise connection_error(exc, self.provider, endpoint.base_url, streaming=True) from None
        except openai.APIStatusError:
            raise
        except openai.APIError as exc:
            for event in translator.flush() + translator.usage():
                yield event
            yield stream_error_event(exc, self.provider)
            yield ModelStep(stop_reason=StopReason.ERROR)
            return
        for event in translator.flush() + translator.usage():
            yield event
        if not translator.finished:
            raise stream_incomplete(self.provider)
        outcome = translator.outcome()
        yield ModelStep(
            tool_calls=names.restore(outcome.tool_calls), stop_reason=outcome.stop_reason
        )


class OpenAIBackend(ChatCompletionsBackend):
    """OpenAI itself: needs ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` may point elsewhere."""

    default_model: ClassVar[str | None] = "gpt-4o-mini"
    models: ClassVar[tuple[str, ...]] = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini")
    context_windows: ClassVar[Mapping[str, int]] = {
        "gpt-4o-mini": 128_000,
        "gpt-4o": 128_000,
        "gpt-4.1": 1_047_576,
        "gpt-4.1-mini": 1_047_576,
    }
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    part_support: ClassVar[Mapping[str, PartSupport]] = OPENAI_PARTS

    def endpoint(self, options: Mapping[str, Any]) -> Endpoint:
        key = self.environ.get("OPENAI_API_KEY")
        if not key:
            raise ConfigurationError(
                "OPENAI_API_KEY is not set; export it (or pass environ={...} to Router), "
                "or use provider 'openai-compatible' for a local runtime that needs no key"
            )
        return Endpoint(self.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL, key)

    def client_headers(self, endpoint: Endpoint) -> dict[str, Any]:
        # The SDK would read these from os.environ; the router's environ is the one that counts.
        headers = {
            "OpenAI-Organization": self.environ.get("OPENAI_ORG_ID"),
            "OpenAI-Project": self.environ.get("OPENAI_PROJECT_ID"),
        }
        return {k: v if v else openai.Omit() for k, v in headers.items()}

    def extra_body(self, turn: Turn) -> dict[str, Any]:
        # One stable, opaque id per end user, so OpenAI's abuse signals never merge tenants
        # and no raw user id leaves the router.
        digest = hashlib.sha256(turn.end_user_id.encode()).hexdigest()[:32]
        return {**super().extra_body(turn), "safety_identifier": digest}


class CompatibleBackend(ChatCompletionsBackend):
    """Any server speaking the Chat Completions API: Ollama, vLLM, llama.cpp, LM Studio.

    The base URL comes from the run option ``base_url``, else
    ``COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL``, else Ollama's default. A key is optional
    (``COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY``) and is sent only to the configured base URL,
    never to one a run names.
    """

    default_model: ClassVar[str | None] = "llama3.2"
    request_options: ClassVar[Mapping[str, RequestOption]] = {
        **_OPTIONS,
        "base_url": RequestOption(
            str,
            help="the runtime's base URL, e.g. http://localhost:11434/v1",
            operator="refused in hosted requests; the configured key never goes to it",
        ),
    }
    part_support: ClassVar[Mapping[str, PartSupport]] = COMPATIBLE_PARTS

    def endpoint(self, options: Mapping[str, Any]) -> Endpoint:
        configured = self.environ.get("COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL")
        configured = (configured or COMPATIBLE_BASE_URL).rstrip("/")
        chosen = options.get("base_url")
        if chosen is not None and (
            not isinstance(chosen, str) or not chosen.startswith(("http://", "https://"))
        ):
            raise InvalidRequestError(
                "option base_url must be an http(s) URL such as http://localhost:11434/v1",
                field="options",
            )
        base_url = (chosen or configured).rstrip("/")
        key = self.environ.get("COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY") or None
        return Endpoint(base_url, key if base_url == configured else None)

    def client_headers(self, endpoint: Endpoint) -> dict[str, Any]:
        # Never forward OpenAI ids from the process environment to a third-party server.
        return {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}


def make_openai_backend(context: BackendContext) -> OpenAIBackend:
    """Factory for provider ``openai``."""
    return OpenAIBackend(context)


def make_compatible_backend(context: BackendContext) -> CompatibleBackend:
    """Factory for provider ``openai-compatible``."""
    return CompatibleBackend(context)
