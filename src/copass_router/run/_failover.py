"""Failover: a turn whose provider fails goes on with the next one, memory intact.

The transcript lives in the router, so the next provider gets the session's history and what
the failed attempt did so far (its text, tool calls and tool results), never a tool run again.
A stateless provider gets it rendered like any history; a native-session provider gets what its
native session has not seen. The router drives the attempts with :class:`TurnDriver`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import ErrorCode, InvalidRequestError, UnknownProviderError
from copass_router._events import Error, Event, Failover
from copass_router._types import Binding, RunRequest, StopReason, TranscriptTurn
from copass_router.run._recorder import TurnRecorder
from copass_router.run._requests import check_for_backend
from copass_router.run._run_loop import OUTPUT_EVENTS, Meter, TurnRunner
from copass_router.tools._tools import ToolContext

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import AgentBackend, Turn
    from copass_router.store import SessionStore

#: Errors that make a provider unavailable for now: before any output they fail over by default.
AVAILABILITY_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.OVERLOADED,
        ErrorCode.SERVER_ERROR,
        ErrorCode.CONNECTION_FAILED,
        ErrorCode.STREAM_CUT,
        ErrorCode.TIMEOUT,
    }
)
#: Errors after output that fail over by default: the provider broke off, it did not refuse.
MID_TURN_CODES = frozenset(
    {
        ErrorCode.OVERLOADED,
        ErrorCode.SERVER_ERROR,
        ErrorCode.CONNECTION_FAILED,
        ErrorCode.STREAM_CUT,
    }
)
#: A fallback's own fields; any other name in its mapping is a provider field.
FALLBACK_FIELDS = ("provider", "model", "options", "provider_fields")

#: The user message a provider taking over mid-turn receives after the turn so far.
CONTINUE_MESSAGE = (
    "(The previous model stopped in the middle of this turn. Continue the turn from where it "
    "stopped, using the tool results above; do not repeat tool calls that already have results.)"
)


@attrs.frozen
class Fallback:
    """A provider (and model, options, provider fields) to go on with when one fails.

    ``provider_fields`` are laid over the primary request's (a field the fallback does not
    give keeps the primary's value), so the swap loop hands every provider the same fields.
    """

    provider: str
    model: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    provider_fields: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def parse(
        cls,
        value: Fallback | Mapping[str, Any],
        where: str,
        provider_fields: frozenset[str] | None = None,
    ) -> Fallback:
        """A fallback from its mapping form, naming ``where`` in any error. A name that is no
        fallback field is a provider field; when ``provider_fields`` (the installed providers'
        fields) is given, a name outside it is refused here."""
        if isinstance(value, Fallback):
            return value
        if not isinstance(value, Mapping):
            raise InvalidRequestError(f"{where} must be an object with a provider", field=where)
        if not all(isinstance(name, str) for name in value):
            raise InvalidRequestError(f"{where} has a field name that is no string", field=where)
        extra = sorted(n for n, v in value.items() if v is not None and n not in FALLBACK_FIELDS)
        unknown = [n for n in extra if provider_fields is not None and n not in provider_fields]
        if unknown:
            declared = ", ".join(sorted(provider_fields or ())) or "none"
            raise InvalidRequestError(
                f"{where} has unknown field {unknown[0]!r}; a fallback takes "
                f"{', '.join(FALLBACK_FIELDS[:3])} and the fields of installed providers "
                f"({declared})",
                field=f"{where}.{unknown[0]}",
            )
        provider = value.get("provider")
        if not isinstance(provider, str) or not provider:
            raise InvalidRequestError(f"{where}.provider is required", field=f"{where}.provider")
        if value.get("model") is not None and not isinstance(value["model"], str):
            raise InvalidRequestError(f"{where}.model must be a string", field=where)
        options, fields = value.get("options") or {}, value.get("provider_fields") or {}
        for name, given in (("options", options), ("provider_fields", fields)):
            if not isinstance(given, Mapping):
                raise InvalidRequestError(f"{where}.{name} must be an object", field=where)
        fields = {**fields, **{name: value[name] for name in extra}}
        fields = {k: v for k, v in fields.items() if v is not None}
        return cls(provider, value.get("model"), dict(options), fields)

    def request(self, primary: RunRequest) -> RunRequest:
        """The primary's request, moved to this fallback (provider fields carried over)."""
        return attrs.evolve(
            primary,
            provider=self.provider,
            model=self.model,
            options=dict(self.options),
            provider_fields={**primary.provider_fields, **self.provider_fields},
            fallbacks=(),
        )


def _parse_fallbacks(values: Iterable[Fallback | Mapping[str, Any]]) -> tuple[Fallback, ...]:
    return tuple(Fallback.parse(f, "failover.fallbacks") for f in values)


@attrs.frozen
class FailoverPolicy:
    """When a turn goes on with another provider, and with which (``Router(failover=...)``).

    :param fallbacks: tried in order for runs that name no ``fallbacks`` of their own.
    :param before_output: codes that fail over when nothing was streamed yet (besides any error
        the provider marks retryable), after the core's own retries.
    :param mid_turn: codes that fail over after the turn produced output; the next provider
        gets the turn so far (text, tool calls and results) and carries on.
    """

    fallbacks: tuple[Fallback, ...] = attrs.field(default=(), converter=_parse_fallbacks)
    before_output: frozenset[str] = attrs.field(default=AVAILABILITY_CODES, converter=frozenset)
    mid_turn: frozenset[str] = attrs.field(default=MID_TURN_CODES, converter=frozenset)

    def applies(self, error: Error, produced: bool) -> bool:
        """Whether ``error`` ending an attempt moves the turn to the next provider."""
        if produced:
            return error.code in self.mid_turn
        return error.retryable or error.code in self.before_output


@attrs.frozen
class Target:
    """One provider a turn may run on: its request, backend and model."""

    request: RunRequest
    backend: AgentBackend
    model: str

    @property
    def provider(self) -> str:
        return self.request.provider


async def fallback_targets(
    request: RunRequest,
    policy: FailoverPolicy,
    backend_for: Callable[[str], Awaitable[AgentBackend]],
    fields_in_use: Iterable[str],
) -> list[Target]:
    """The checked fallbacks of ``request`` (its own, else the policy's), each against its
    backend exactly as a run's own fields are; any bad one refuses the run, naming it."""
    raw: Sequence[Any] = request.fallbacks or policy.fallbacks
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InvalidRequestError("fallbacks must be a list of objects", field="fallbacks")
    if len(raw) > 8:
        raise InvalidRequestError("at most 8 fallbacks", field="fallbacks")
    fields = frozenset(fields_in_use)
    targets = []
    for i, value in enumerate(raw):
        where = f"fallbacks[{i}]"
        fallback = Fallback.parse(value, where, fields)
        fb_request = fallback.request(request)
        try:
            backend = await backend_for(fallback.provider)
            own = check_for_backend(fb_request, backend, fields)
            backend.validate(fb_request)
        except UnknownProviderError as exc:
            raise InvalidRequestError(f"{where}: {exc}", field=f"{where}.provider") from None
        except InvalidRequestError as exc:
            raise InvalidRequestError(
                f"{where}: {exc}", field=f"{where}.{exc.field or 'provider'}"
            ) from None
        model = fb_request.model or backend.default_model
        if not model:
            raise InvalidRequestError(
                f"{where}: provider {fallback.provider!r} needs a model", field=f"{where}.model"
            )
        targets.append(Target(own, backend, model))
    return targets


#: Builds an attempt's Turn and tool context: (target, history, binding) -> (turn, context).
NewTurn = Callable[
    [Target, Sequence[TranscriptTurn], Binding | None, TranscriptTurn | None],
    tuple["Turn", ToolContext],
]


class TurnDriver:
    """Runs one turn on its first target and, when it fails as the policy says, on the next.

    Every attempt shares one recorder (the turn's transcript) and one sequence of event numbers;
    what an attempt did so far is the next attempt's history.
    """

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        policy: FailoverPolicy,
        new_turn: NewTurn,
        store: SessionStore,
        session_id: str,
        started: TranscriptTurn,
        middleware: Sequence[Callable[..., Any]],
        timeout: float | None,
        meter: Callable[[Target], Meter | None] = lambda target: None,
        may_fail_over: Callable[[], bool] = lambda: True,
    ) -> None:
        self._targets = list(targets)
        self._policy = policy
        self._new_turn = new_turn
        self._store = store
        self._sid = session_id
        self._started = started
        self._middleware = tuple(middleware)
        self._meter = meter
        self._may_fail_over = may_fail_over
        loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._deadline = loop.time() + timeout if timeout else None
        self.recorder = TurnRecorder()
        self.index = 0
        self.had_binding = False
        self._runner_now: TurnRunner | None = None

    async def start(self, history: Sequence[TranscriptTurn], binding: Binding | None) -> None:
        """Prepare the first attempt with the history and native-session binding the store
        read when the turn began."""
        self.had_binding = binding is not None
        turn, context = self._new_turn(self.target, history, binding, None)
        self._runner_now = self._runner(turn, context, self._timeout)

    @property
    def runner(self) -> TurnRunner:
        """The attempt's runner (after :meth:`start`)."""
        assert self._runner_now is not None, "TurnDriver.start() first"
        return self._runner_now

    @property
    def turn(self) -> Turn:
        """The attempt running now (after the turn: the one that finished it)."""
        return self.runner.turn

    @property
    def target(self) -> Target:
        return self._targets[self.index]

    def _runner(self, turn: Turn, context: ToolContext, timeout: float | None) -> TurnRunner:
        target = self.target
        return TurnRunner(
            turn, target.backend, context, self._middleware, timeout, self._meter(target),
            recorder=self.recorder,
        )  # fmt: skip

    async def bookend(self, event: Event) -> Event:
        """Stamp ``RunStarted``/``RunFinished`` (see :meth:`TurnRunner.bookend`)."""
        return await self.runner.bookend(event)

    def events(self) -> AsyncGenerator[Event]:
        """The turn's events, across every attempt it takes. A turn with nowhere to fail over
        to streams its one attempt's events as they are (no layer of its own per event)."""
        if len(self._targets) == 1:
            return self.runner.events()
        return self._attempts()

    async def _attempts(self) -> AsyncGenerator[Event]:
        while True:
            # The last error is held back: if the turn fails over, the Failover replaces it.
            held: Error | None = None
            errors_before = len(self.recorder.errors)
            produced = False  # by this attempt
            async with contextlib.aclosing(self.runner.events()) as stream:
                async for event in stream:
                    if held is not None:
                        yield held
                        held = None
                    if isinstance(event, Error):
                        held = event
                        continue
                    if not produced and isinstance(event, OUTPUT_EVENTS):
                        produced = True
                    yield event
            # What the backend reported, as recorded before event middleware saw it.
            errors = self.recorder.errors[errors_before:]
            last_error = errors[-1] if errors else None
            failed = self.turn.stop_reason is StopReason.ERROR
            if failed and last_error is not None and self._should_fail_over(last_error, produced):
                notice = await self._switch(last_error, held)
                yield notice
                continue
            if held is not None:
                yield held
            return

    def _should_fail_over(self, error: Error, produced: bool) -> bool:
        if self.index + 1 >= len(self._targets) or self.turn.stop_requested is not None:
            return False
        if self._deadline is not None and asyncio.get_running_loop().time() >= self._deadline:
            return False
        return self._policy.applies(error, produced) and self._may_fail_over()

    async def _switch(self, error: Error, held: Error | None) -> Event:
        """Close the failed attempt and start the next: the Failover event that says so."""
        old_runner, old = self.runner, self.target
        await old_runner.aclose()
        self.index += 1
        target = self.target
        history, binding = await self._history(target)
        partial = self._turn_so_far(old)
        if partial is not None:
            history = [*history, partial]
            target = attrs.evolve(
                target, request=attrs.evolve(target.request, message=CONTINUE_MESSAGE)
            )
        turn, context = self._new_turn(target, history, binding, partial)
        turn.tool_rounds = old_runner.turn.tool_rounds
        self.had_binding = binding is not None
        timeout = None
        if self._deadline is not None:
            timeout = max(self._deadline - asyncio.get_running_loop().time(), 0.001)
        self._runner_now = self._runner(turn, context, timeout)
        # The failure the Failover replaces was never shown: its number goes to the notice.
        self.runner._seq = held.seq if held is not None else old_runner._seq
        notice = Failover(
            from_provider=old.provider,
            from_model=old.model,
            to_provider=target.provider,
            to_model=target.model,
            code=error.code,
            message=error.message,
        )
        # The transcript says so too (``provider_data["failovers"]``), not only the stream.
        self.recorder.provider_data.setdefault("failovers", []).append(
            {
                "from_provider": old.provider,
                "from_model": old.model,
                "to_provider": target.provider,
                "to_model": target.model,
                "code": error.code,
            }
        )
        return await self.runner.bookend(notice)

    async def _history(self, target: Target) -> tuple[list[TranscriptTurn], Binding | None]:
        """The earlier turns ``target`` has not seen, and its native-session binding."""
        sid, before = self._sid, self._started.index
        binding = (
            await self._store.get_binding(sid, target.provider)
            if target.backend.keeps_native_session
            else None
        )
        turns = await self._store.load_turns(sid, start=binding.synced_turns if binding else 0)
        return [t for t in turns if t.index < before], binding

    def _turn_so_far(self, failed: Target) -> TranscriptTurn | None:
        """What the failed attempts of this turn did, as a transcript turn (None: nothing)."""
        self.recorder._flush_text()  # text the failed attempt streamed is part of the turn
        items = list(self.recorder.items)
        if not items:
            return None
        # Its own run id: to the next provider it is an earlier turn, not the one it runs.
        return attrs.evolve(
            self._started,
            run_id=f"{self._started.run_id}-before-failover",
            provider=failed.provider,
            model=failed.model,
            items=tuple(items),
        )

    def finish(self, outcome: StopReason) -> TranscriptTurn:
        """The turn's transcript record, under the provider and model that finished it."""
        target = self.target
        started = attrs.evolve(self._started, provider=target.provider, model=target.model)
        return self.recorder.finish(started, outcome)

    async def aclose(self) -> None:
        """Close the running attempt (its cleanup cancels the provider's turn)."""
        await self.runner.aclose()
