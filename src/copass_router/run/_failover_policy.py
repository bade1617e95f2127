"""Where a failing turn may go: the failover policy, a run's fallbacks, and the checked
targets (request, backend, model) a turn is driven on, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from copass_router._errors import ErrorCode, InvalidRequestError, UnknownProviderError
from copass_router._events import Error
from copass_router._types import RunRequest
from copass_router.run._requests import check_for_backend

if TYPE_CHECKING:
    from copass_router.provider_kit._backend import AgentBackend

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
