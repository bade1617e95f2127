"""The Turn a backend receives: the request, the history its provider has not seen, the
tools, and what a backend calls during the turn (bind, dispatch, emit, merge, stop)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from copass_router._errors import ProviderError
from copass_router._events import Event, Retry
from copass_router._generation import GenerationSettings
from copass_router._logs import scrub
from copass_router._types import (
    Binding,
    RunRequest,
    StopReason,
    ToolCallRequest,
    ToolSpec,
    TranscriptTurn,
)
from copass_router.content._parts import Part, message_text
from copass_router.provider_kit._mailbox import Mailbox, nothing
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.tools._approvals import TurnApprovals

T = TypeVar("T")


DispatchFn = Callable[["Turn", Sequence[ToolCallRequest]], AsyncIterator[Event]]


class Turn:
    """One turn handed to a backend: the request, what the provider missed, and the tools.

    ``history`` holds the transcript turns this provider's native session has not seen (for a
    backend without native sessions: the whole transcript). ``binding`` is the link to the
    native session if one exists; call :meth:`bind` to create or replace it.
    """

    def __init__(
        self,
        *,
        request: RunRequest,
        run_id: str,
        session_id: str,
        model: str,
        history: Sequence[TranscriptTurn],
        binding: Binding | None,
        tools: Sequence[ToolSpec],
        dispatch: DispatchFn,
        load_history: Callable[[], Awaitable[Sequence[TranscriptTurn]]],
        dispatch_token: str | Callable[[], str] | None = None,
        dispatch_url: str | None = None,
        retry_policy: RetryPolicy | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> None:
        self.request = request
        self.run_id = run_id
        self.session_id = session_id
        self.model = model
        self.history: tuple[TranscriptTurn, ...] = tuple(history)
        self.binding = binding
        self.tools: tuple[ToolSpec, ...] = tuple(tools)
        self._dispatch_token = dispatch_token
        self.dispatch_url = dispatch_url
        #: The W3C trace context (``traceparent``, ``tracestate``) to send with the provider
        #: requests of this turn, so a deployed agent can pass it back on its tool callbacks
        #: (see ``ToolContext.trace_context``). Read it when the turn starts; empty when no
        #: tracer plugin set one.
        self.trace_context: Mapping[str, str] = trace_context if trace_context is not None else {}
        self.stop_reason = StopReason.END_TURN
        self.new_binding: Binding | None = None
        self.retry_policy = retry_policy or RetryPolicy()
        #: Tool rounds run so far (a round: the tool calls of one model response).
        self.tool_rounds = 0
        #: Retries spent on this turn (bounded by ``retry_policy.max_retries``).
        self.retries = 0
        #: What a backend keeps across the core's retries of this turn (e.g. a provider session
        #: it created before the request that failed, so a retry reuses it).
        self.state: dict[str, Any] = {}
        #: What the backend's ``prepare_turn`` started for this turn while the store claimed
        #: the session (None: nothing): await it at most once, and set this to None first, so
        #: a retry of the turn prepares anew.
        self.prepared: Awaitable[Any] | None = None
        #: What the backend's ``prepare_session`` started for the new session this turn opens
        #: (None: nothing): await it at most once, and set this to None first; once awaited,
        #: what it made is the backend's (keep it in ``state`` for a retry of the turn).
        self.prepared_session: Awaitable[Any] | None = None
        #: Set when the core ends the turn early (e.g. the tool-round cap): why it ends.
        self.stop_requested: StopReason | None = None
        #: Set when the core refuses the turn before any call (it does not fit the model).
        self.refusal: Event | None = None
        self._on_stop: Callable[[], None] | None = None
        self._rounds: set[str] = set()
        self._dispatch = dispatch
        self._load_history = load_history
        self._side: deque[Event] = deque()
        self._wake: Callable[[], None] | None = None  # set while :meth:`merge` runs
        #: The router's approvals, for calls a provider runs itself (a managed runtime's
        #: built-in or MCP tools asking for permission); None outside a router run.
        self.approvals: TurnApprovals | None = None

    @property
    def dispatch_token(self) -> str | None:
        """The run-scoped token a deployed agent presents when it calls a router tool.

        Given as a function, it is minted on first use: most backends never need one.
        """
        token = self._dispatch_token
        if callable(token):
            token = self._dispatch_token = token()
        return token

    @property
    def provider(self) -> str:
        """The provider name this turn runs on."""
        return self.request.provider

    @property
    def end_user_id(self) -> str:
        """The end user the turn is for (map it one to one onto the provider's user)."""
        return self.request.end_user_id

    @property
    def system(self) -> str | None:
        """The system prompt."""
        return self.request.system

    @property
    def message(self) -> str:
        """The text of the user's message for this turn (its text parts, for a message of
        parts: read :attr:`parts` for its images and files)."""
        return message_text(self.request.message)

    @property
    def parts(self) -> tuple[Part, ...]:
        """The user's message as parts, in order, when it was given as parts (empty for a
        string message: read :attr:`message`). Only images and files the backend declares in
        :attr:`AgentBackend.part_support` reach it."""
        message = self.request.message
        return () if isinstance(message, str) else message

    @property
    def options(self) -> Mapping[str, Any]:
        """Provider-specific options from the request."""
        return self.request.options

    @property
    def provider_fields(self) -> Mapping[str, Any]:
        """The request's provider fields (only those the backend declares can reach it)."""
        return self.request.provider_fields

    @property
    def generation(self) -> GenerationSettings:
        """The run's generation settings (only those the backend declares can be set)."""
        return GenerationSettings.of(self.request)

    @property
    def output_schema(self) -> Mapping[str, Any] | None:
        """The JSON Schema the answer must match (None: free text). Sent natively by a
        backend that declares ``structured_output``."""
        return self.request.output_schema

    def bind(self, native_id: str, data: Mapping[str, Any] | None = None) -> None:
        """Record the native session this turn ran in; it will be reused by the next turn.

        May be called more than once (the last call wins): e.g. once the native session has
        accepted the message, and again at the end with more data.
        """
        self.new_binding = Binding(native_id=native_id, data=dict(data or {}))

    def request_stop(self, reason: StopReason) -> None:
        """End the turn early with ``reason``: the core closes the backend's stream (which
        cancels the provider's turn) and records the turn with that stop reason."""
        if self.stop_requested is None:
            self.stop_requested = self.stop_reason = reason
            if self._wake is not None:
                self._wake()  # :meth:`merge` stops reading the provider and closes it
            if self._on_stop is not None:
                self._on_stop()

    def note_retry(self, exc: ProviderError, delay: float) -> Retry:
        """Count one core retry of this turn and return the ``Retry`` event that announces it."""
        self.retries += 1
        return Retry(
            attempt=self.retries,
            delay=round(delay, 3),
            code=exc.code,
            message=scrub(str(exc)),
            provider=self.provider,
        )

    def claim_tool_round(self, round_id: str | None = None) -> bool:
        """Count one tool round against ``max_tool_rounds``; False (and the turn ends with
        ``tool_limit``) when the cap is already reached, so the calls must not run.

        ``round_id`` names the model response the calls belong to, for providers that hand
        over a response's calls one at a time: a round already claimed is not counted again.
        """
        if self.stop_requested is not None:
            return False
        if round_id is not None and round_id in self._rounds:
            return True
        if self.tool_rounds >= self.request.max_tool_rounds:
            self.request_stop(StopReason.TOOL_LIMIT)
            return False
        self.tool_rounds += 1
        if round_id is not None:
            self._rounds.add(round_id)
        return True

    async def full_history(self) -> tuple[TranscriptTurn, ...]:
        """Every earlier turn of the session, without this one (for a backend starting a fresh
        native session)."""
        return tuple(await self._load_history())

    def dispatch(
        self, calls: Sequence[ToolCallRequest], *, round_id: str | None = None
    ) -> AsyncIterator[Event]:
        """Run tool calls through the router's dispatcher.

        Yields a ``ToolCall`` per call at once, then a ``ToolResult`` per call as each finishes
        (calls run concurrently). Failures come back as results with ``is_error`` set; this never
        raises for a tool's sake. Each call of this method is one tool round: past the run's
        ``max_tool_rounds`` nothing runs, nothing is yielded and the turn ends with stop reason
        ``tool_limit`` (check :attr:`stop_requested` and stop). ``round_id``: see
        :meth:`claim_tool_round`.
        """
        if not calls:
            return nothing()
        if not self.claim_tool_round(round_id):
            return nothing()
        return self._dispatch(self, calls)

    def emit(self, event: Event) -> None:
        """Put an event into the run's stream from outside the backend's generator.

        Used by the dispatch callback endpoint and by background work in a backend. Events appear
        after the backend's next yield, or at once inside :meth:`merge`.
        """
        self._side.append(event)
        if self._wake is not None:
            self._wake()

    def drain(self, count: int | None = None) -> list[Event]:
        """Take the events emitted with :meth:`emit` that have not been streamed yet (the
        first ``count`` of them, if given)."""
        side = self._side
        if count is None or count >= len(side):
            items = list(side)
            side.clear()
        else:
            items = [side.popleft() for _ in range(count)]
        return items

    async def merge(self, source: AsyncIterator[T]) -> AsyncGenerator[T | Event]:
        """Iterate ``source`` and, as they arrive, the events given to :meth:`emit`.

        For backends whose provider stream goes quiet while tools run elsewhere (a dispatch
        callback, a background tool task): the tool events show up live instead of after the
        provider's next event. ``source`` is iterated in one helper task and closed on exit,
        also as soon as the core ends the turn (:meth:`request_stop`).
        """
        # One mailbox carries the provider's items and the wake-ups of emit/request_stop, so
        # waiting for either is one await (no helper tasks per item).
        mailbox = Mailbox()

        async def pump() -> None:
            try:
                async for item in source:
                    mailbox.put(("item", item))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                mailbox.put(("error", exc))
                return
            mailbox.put(("end", None))

        task = asyncio.create_task(pump())
        self._wake = lambda: mailbox.put(("wake", None))
        try:
            while True:
                while self._side:
                    yield self._side.popleft()
                if self.stop_requested is not None:
                    break
                kind, item = await mailbox.get()
                if kind == "item":
                    yield item
                elif kind == "error":
                    raise item
                elif kind == "end":
                    break
            while self._side:
                yield self._side.popleft()
        finally:
            self._wake = None
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
