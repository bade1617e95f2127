"""A backend for a stateless chat API over HTTP: the core does the plumbing, a plugin maps.

A provider author subclasses :class:`HttpChatBackend` and writes three things: how neutral
messages become the provider's request (:meth:`~HttpChatBackend.build_request`), how one chunk
of its stream becomes neutral pieces (:meth:`~HttpChatBackend.read_chunk`) and, optionally, how
its error bodies map onto neutral codes (:meth:`~HttpChatBackend.error_code`). The core owns the
rest: one HTTP client per base URL, the key, streaming, closing the stream when the consumer
stops (cancellation), a stream that ends without its end marker (``stream_cut``), refused
requests as neutral :class:`ProviderError` (retried by the core when retryable), the full text
as a ``Message``, usage, tool rounds and the history of earlier turns.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar

import attrs
import httpx

from copass_router._errors import ConfigurationError, InternalError, ProviderError, RouterError
from copass_router._events import Error, Event, Message, TextDelta, ThinkingDelta, Usage
from copass_router._logs import scrub
from copass_router._types import ChatMessage, StopReason, ToolCallRequest
from copass_router.provider_kit._backend import AgentBackend, BackendContext, Turn
from copass_router.provider_kit._chat_loop import ModelStep, run_chat_loop

#: What :meth:`HttpChatBackend.read_chunk` yields: text and reasoning as they stream, token
#: usage, an ``Error`` the provider reports mid-stream, the tool calls the model asks for, and a
#: :class:`StopReason` as the end marker.
Piece = TextDelta | ThinkingDelta | Usage | Error | ToolCallRequest | StopReason


@attrs.frozen
class ChatRequest:
    """One model request: the path under the base URL, the JSON body, extra headers."""

    path: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = attrs.field(factory=dict)


class HttpChatBackend(AgentBackend):
    """Base class of a backend for a chat API that streams its reply over HTTP.

    Class settings: ``base_url_env`` names the environment variable with the API's base URL
    (``default_base_url`` when unset), ``api_key_env`` the one with the key (sent as a bearer
    token; None: the API takes none), ``stream_format`` is ``"ndjson"`` (one JSON object a line)
    or ``"sse"`` (``data:`` lines; ``[DONE]`` is skipped), ``timeout`` bounds connecting and each
    wait for data, in seconds.
    """

    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str | None] = None
    api_key_env: ClassVar[str | None] = None
    stream_format: ClassVar[str] = "ndjson"
    timeout: ClassVar[float] = 60.0

    def __init__(self, context: BackendContext) -> None:
        self.provider = context.provider
        self.environ = context.environ
        self._clients: dict[str, httpx.AsyncClient] = {}

    # -- what a provider author writes ---------------------------------------------------------

    def build_request(self, turn: Turn, messages: list[ChatMessage]) -> ChatRequest:
        """The provider's request for ``messages`` (system, earlier turns, this one and the
        tool results so far, in neutral form); ``turn`` has the model, tools and options."""
        raise NotImplementedError

    def read_chunk(self, chunk: Mapping[str, Any]) -> Iterable[Piece]:
        """The neutral pieces in one decoded chunk of the stream (see :data:`Piece`)."""
        raise NotImplementedError

    def error_code(self, status: int, body: Any) -> str | None:
        """The neutral code for a refused request's decoded ``body`` (None: from ``status``)."""
        return None

    # -- the core's part -----------------------------------------------------------------------

    def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run the turn through the core's chat loop, one streamed request per model step."""
        return run_chat_loop(turn, lambda messages: self._step(turn, messages))

    async def aclose(self) -> None:
        """Close every client's connections."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def base_url(self) -> str:
        """The API's base URL from the environment (or the class default)."""
        url = (self.environ.get(self.base_url_env) if self.base_url_env else None) or (
            self.default_base_url
        )
        if not url:
            raise ConfigurationError(
                f"provider {self.provider!r} needs its API's base URL: set {self.base_url_env}"
            )
        return url.rstrip("/")

    def _client(self) -> httpx.AsyncClient:
        base_url = self.base_url()
        client = self._clients.get(base_url)
        if client is None:
            headers = {}
            if self.api_key_env:
                key = self.environ.get(self.api_key_env)
                if not key:
                    raise ConfigurationError(
                        f"provider {self.provider!r} needs an API key: set {self.api_key_env}"
                    )
                headers["Authorization"] = f"Bearer {key}"
            client = httpx.AsyncClient(
                base_url=base_url, headers=headers, timeout=httpx.Timeout(self.timeout)
            )
            self._clients[base_url] = client
        return client

    async def _step(
        self, turn: Turn, messages: list[ChatMessage]
    ) -> AsyncGenerator[Event | ModelStep]:
        request = self.build_request(turn, messages)
        client = self._client()
        text: list[str] = []
        calls: list[ToolCallRequest] = []
        usage: list[Usage] = []  # told after the text's Message: a usage closes the request
        stop: StopReason | None = None
        # Whether the stream ended as a complete one does: an SSE stream's [DONE], or an
        # NDJSON stream that ended cleanly on a chunk read_chunk had nothing to say about.
        ended = [False]
        try:
            async with client.stream(
                "POST", request.path, json=dict(request.body), headers=dict(request.headers)
            ) as response:
                if response.status_code >= 400:
                    raise await self._refused(response)
                async for chunk in self._chunks(response, ended):
                    ended[0] = self.stream_format != "sse"
                    for piece in self.read_chunk(chunk):
                        ended[0] = False
                        if isinstance(piece, StopReason):
                            stop = piece
                        elif isinstance(piece, ToolCallRequest):
                            calls.append(piece)
                        elif isinstance(piece, Usage):
                            usage.append(piece)
                        else:
                            if isinstance(piece, TextDelta):
                                text.append(piece.text)
                            yield piece
        except httpx.TransportError as exc:
            if text:
                yield Message(text="".join(text))
            raise self._broken(exc, started=bool(text) or stop is not None) from None
        if text:
            yield Message(text="".join(text))
        for piece in usage:
            yield piece
        if stop is None:
            raise self._no_stop(ended[0])
        yield ModelStep(tool_calls=tuple(calls), stop_reason=stop)

    def _no_stop(self, ended: bool) -> RouterError:
        """A reply that never said why it stopped: the stream was cut before its end, or
        (it ended as a complete stream does) :meth:`read_chunk` never maps the end marker."""
        if not ended:
            return ProviderError(
                f"the stream from {self.provider!r} ended before the reply was complete",
                provider=self.provider,
                code="stream_cut",
            )
        backend = f"{type(self).__module__}.{type(self).__qualname__}"
        return InternalError(
            f"provider {self.provider!r}: the stream ended and {backend}.read_chunk never "
            "yielded a StopReason; map the provider's finish marker (e.g. finish_reason) "
            "to a StopReason"
        )

    async def _chunks(
        self, response: httpx.Response, done: list[bool]
    ) -> AsyncIterator[Mapping[str, Any]]:
        async for line in response.aiter_lines():
            line = line.strip()
            if self.stream_format == "sse":
                if not line.startswith("data:"):
                    continue
                line = line[5:].strip()
                if line == "[DONE]":
                    done[0] = True
                    continue
            if not line:
                continue
            try:
                chunk = json.loads(line)
            except ValueError:
                raise ProviderError(
                    f"provider {self.provider!r} sent a chunk that is not JSON",
                    provider=self.provider,
                ) from None
            if isinstance(chunk, Mapping):
                yield chunk

    async def _refused(self, response: httpx.Response) -> ProviderError:
        raw = await response.aread()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")[:200]
        status = response.status_code
        return ProviderError(
            scrub(f"provider {self.provider!r} returned {status}: {_said(body)}"),
            provider=self.provider,
            status=status,
            code=self.error_code(status, body),
            request_id=response.headers.get("x-request-id"),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    def _broken(self, exc: httpx.TransportError, *, started: bool) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            code, what = "timeout", "did not answer in time"
        elif started:
            code, what = "stream_cut", "broke the stream mid-reply (the reply so far is kept)"
        else:
            code, what = "connection_failed", f"cannot be reached at {self.base_url()}"
        return ProviderError(
            f"provider {self.provider!r} {what} ({type(exc).__name__})",
            provider=self.provider,
            code=code,
        )


def _said(body: Any) -> str:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            return str(error.get("message") or error)[:300]
        return str(error)[:300]
    return str(body)[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
