"""The backend contract: what a provider plugin implements and the context its factory gets
(the Turn it receives is in :mod:`._turn`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from copass_router._events import Event
from copass_router._request_fields import RequestField, RequestOption
from copass_router._types import (
    Binding,
    RunRequest,
    ToolSpec,
)
from copass_router.content._support import PartSupport
from copass_router.coordination._base import Coordinator
from copass_router.provider_kit._resource_cache import ResourceCache
from copass_router.provider_kit._turn import Turn

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
    #: Whether the backend sends ``Turn.output_schema`` in its provider's native
    #: structured-output mode, its last assistant message being the JSON answer. False: the
    #: core states the schema in the turn's system prompt instead. Either way the core
    #: validates the answer.
    structured_output: ClassVar[bool] = False
    #: The context window, in tokens, of the models this provider serves (a model name or its
    #: family, see docs/portable-context.md); ``default_context_window`` for the others (None:
    #: unknown, nothing checked). A turn that does not fit is compacted or refused before any
    #: call.
    context_windows: ClassVar[Mapping[str, int]] = {}
    default_context_window: ClassVar[int | None] = None
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

    def prepare_turn(
        self, request: RunRequest, model: str, tools: Sequence[ToolSpec]
    ) -> Awaitable[Any] | None:
        """Provider-side work of a turn that needs no session, to run while the store claims it.

        Return an awaitable (e.g. finding or creating the agent a managed provider runs the turn
        on) and the router runs it beside the claim; the turn gets it as ``Turn.prepared``, to
        await in :meth:`run_turn` (its failure is then the turn's, retried and recorded like any
        other). If the claim fails it is cancelled: start nothing there that costs or must be
        undone (a provider session, a model call). Called after :meth:`resolve_model` with the
        run's tools. The default: None, nothing to prepare.
        """
        return None

    def prepare_session(
        self,
        request: RunRequest,
        model: str,
        tools: Sequence[ToolSpec],
        prepared: Awaitable[Any] | None,
    ) -> Awaitable[Any] | None:
        """Provider-side work for the new session a run starts (it named none), to run while
        the store makes it: e.g. the provider's own session. ``request.session_id`` is the id
        the store gives the new session; ``prepared`` is what :meth:`prepare_turn` started
        (await it rather than doing its work again; None: nothing).

        The turn gets it as ``Turn.prepared_session``, to await in :meth:`run_turn`: once
        awaited, what it made is the backend's to use (keep it in ``Turn.state`` for the core's
        retries). Unlike :meth:`prepare_turn`'s, this work may make what must be undone: if no
        turn awaits it (the claim failed, the turn never reached this backend) the router waits
        for it and passes what it made to :meth:`discard_session`. Its failure is the turn's,
        raised where the backend awaits it. The default: None, nothing to prepare.
        """
        return None

    async def discard_session(self, made: Any) -> None:
        """Undo what :meth:`prepare_session` made for a turn that never used it (e.g. delete
        the provider's session). Raising is logged. The default does nothing."""

    def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        """Run one turn and yield its events. Must be an async generator."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release clients and connections. Called when the router closes."""


BackendFactory = Callable[[BackendContext], AgentBackend]
