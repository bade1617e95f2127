"""The backend contract: what a provider plugin implements, and the Turn it receives."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from copass_router._errors import ProviderError
from copass_router._events import Event, Retry
from copass_router._generation import GenerationSettings
from copass_router._logs import scrub
from copass_router._request_fields import RequestField, RequestOption
from copass_router._types import (
    Binding,
    RunRequest,
    StopReason,
    ToolCallRequest,
    ToolSpec,
    TranscriptTurn,
)
from copass_router.content._parts import Part, message_text
from copass_router.content._support import PartSupport
from copass_router.coordination._base import Coordinator
from copass_router.provider_kit._mailbox import Mailbox, nothing
from copass_router.provider_kit._resource_cache import ResourceCache
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.tools._approvals import TurnApprovals

T = TypeVar("T")


@attrs.frozen
class BackendContext:
    """What a backend factory receives: its provider name, its resource space and settings.

    ``environ`` is where keys and URLs come from (the router's environment); ``settings`` are
    the host's settings for this provider (``Router(provider_settings={provider: {...}})``),
    values of any type (a policy function, a limit). (A run's own provider options are
    ``Turn.options``.)
    """

    provider: str
    resources: ResourceCache
    environ: Mapping[str, str] = attrs.field(factory=dict)
    dispatch_url: str | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    #: What workers share: ``lock(name)`` for single-flight work, ``pace(name, limit, period)``
    #: and ``hold(name, seconds)`` for a provider's create budget (see :class:`Coordinator`).
    coordinator: Coordinator = attrs.field(factory=Coordinator)


class AgentBackend:
    """Base class of every provider backend.

    Subclasses implement :meth:`run_turn`, an async generator that drives one turn at the
    provider and yields neutral events (without ``run_id``/``seq``; the router stamps them).
    The router emits ``RunStarted`` and ``RunFinished`` itself; a backend sets
    ``turn.stop_reason`` instead of yielding ``RunFinished``.
    """

    #: The provider fields this backend uses (``RunRequest.provider_fields``), the same
    #: declarations its plugin gives ``register(..., fields=...)``. The core checks each value's
    #: type and refuses a run without a required one; a field another installed provider
    #: declares is carried along, one no installed provider declares is refused.
    request_fields: ClassVar[tuple[RequestField, ...]] = ()
    #: The run options (``options={...}``) this backend takes, by name. The core refuses any
    #: other option and any value of another type, naming it, before the backend runs.
    request_options: ClassVar[Mapping[str, RequestOption]] = {}
    #: Derived: the names of :attr:`request_fields` (or, set alone, plain string fields).
    accepts: ClassVar[frozenset[str]] = frozenset()
    #: Derived: the type of each of :attr:`request_options` (or, set alone, options declared
    #: by type only).
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}
    #: The portable generation settings (``temperature``, ``max_output_tokens``, ``stop``) this
    #: backend sends to its model (``Turn.generation``). The core refuses the others, naming them.
    generation_settings: ClassVar[frozenset[str]] = frozenset()
    #: The images and files this backend sends to its model, by kind (``image``, ``file``):
    #: the media types its API takes and whether by URL. Text is always taken; the core
    #: refuses any other part before the run, naming it and the providers that take it.
    part_support: ClassVar[Mapping[str, PartSupport]] = {}
    #: Model used when a request names none.
    default_model: ClassVar[str | None] = None
    #: The models this provider is known to serve, for listings (``copass-router providers
    #: --models``) and a warning about a model not among them. Empty: the provider cannot tell
    #: (a local runtime serves whatever it has pulled). Never a reason to refuse a model.
    models: ClassVar[tuple[str, ...]] = ()
    #: Whether the backend keeps a native session (so ``Turn.history`` is only what it missed).
    keeps_native_session: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # One declaration each: the derived names follow it (an older backend that sets only
        # ``accepts`` or ``option_types`` gets plain declarations made from them).
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "request_fields" in own or "accepts" not in own:
            cls.accepts = frozenset(f.name for f in cls.request_fields)
        else:
            cls.request_fields = tuple(RequestField(name) for name in sorted(cls.accepts))
        if "request_options" in own or "option_types" not in own:
            cls.option_types = {name: o.type for name, o in cls.request_options.items()}
        else:
            cls.request_options = {n: RequestOption(t) for n, t in cls.option_types.items()}

    def validate(self, request: RunRequest) -> None:
        """Raise :class:`InvalidRequestError` naming the field if ``request`` cannot run here.

        Called after the core has checked the fields and options against what the backend
        declares (``request_fields``, ``request_options``) and before anything reaches the
        provider: override it for checks of values (e.g. a URL's scheme).
        """

    async def delete_native_session(self, binding: Binding) -> None:
        """Delete the provider-side session ``binding`` names (the router session is deleted).

        Called by ``Router.delete_session`` for each provider that holds a native session of the
        deleted router session. The default does nothing (stateless providers).
        """

    async def resolve_model(self, request: RunRequest) -> str | None:
        """The model ``request`` will actually run on (``RunStarted.model``), after
        :meth:`validate`.

        The default is the request's model, else :attr:`default_model`. A backend whose
        provider fixes the model elsewhere (a deployed agent's own model) looks it up here, and
        may raise :class:`InvalidRequestError` for a request the provider cannot honour.
        """
        return request.model or self.default_model

    def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run one turn and yield its events. Must be an async generator."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release clients and connections. Called when the router closes."""


BackendFactory = Callable[[BackendContext], AgentBackend]

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
        #: Set when the core ends the turn early (e.g. the tool-round cap): why it ends.
        self.stop_requested: StopReason | None = None
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
