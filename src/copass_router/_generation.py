"""Portable generation settings: ``temperature``, ``max_output_tokens`` and ``stop``.

They are run fields of their own, so one request carries them to whichever provider runs it
(failover included). Each backend lists the settings it honours in
:attr:`AgentBackend.generation_settings`; a setting the chosen provider (or a fallback) has no
equivalent for is refused before the run, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from copass_router._errors import InvalidRequestError

if TYPE_CHECKING:
    from copass_router._types import RunRequest
    from copass_router.provider_kit._backend import AgentBackend

#: The neutral generation settings, in the order errors name them.
GENERATION_FIELDS = ("temperature", "max_output_tokens", "stop")
MAX_TEMPERATURE = 2.0
MAX_OUTPUT_TOKENS = 1_000_000
#: The fewest stop sequences any provider that has them takes (OpenAI: 4).
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 100


@attrs.frozen
class GenerationSettings:
    """The generation settings of one run, as a backend reads them (``Turn.generation``).

    None (or an empty ``stop``) means the provider's own default.
    """

    temperature: float | None = None
    max_output_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: RunRequest) -> GenerationSettings:
        """The settings ``request`` asks for."""
        return cls(request.temperature, request.max_output_tokens, tuple(request.stop))

    def given(self) -> tuple[str, ...]:
        """The names of the settings that are set, in :data:`GENERATION_FIELDS` order."""
        return tuple(
            name
            for name, value in zip(
                GENERATION_FIELDS,
                (self.temperature, self.max_output_tokens, self.stop),
                strict=True,
            )
            if value is not None and value != ()
        )


def check_generation(request: RunRequest) -> None:
    """Raise :class:`InvalidRequestError` for a generation setting outside what any provider
    takes (each provider may narrow these in its ``validate``)."""
    temperature = request.temperature
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or not 0 <= temperature <= MAX_TEMPERATURE
    ):
        raise InvalidRequestError(
            f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}; got {temperature!r:.40}",
            field="temperature",
        )
    limit = request.max_output_tokens
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_OUTPUT_TOKENS
    ):
        raise InvalidRequestError(
            f"max_output_tokens must be a whole number from 1 to {MAX_OUTPUT_TOKENS}; "
            f"got {limit!r:.40}",
            field="max_output_tokens",
        )
    stop = request.stop
    if not isinstance(stop, tuple) or not all(
        isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stop
    ):
        raise InvalidRequestError(
            f"stop must be a string or a list of strings of 1-{MAX_STOP_CHARS} characters",
            field="stop",
        )
    if len(stop) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(
            f"stop takes at most {MAX_STOP_SEQUENCES} sequences; got {len(stop)}", field="stop"
        )


def check_generation_for_backend(request: RunRequest, backend: AgentBackend) -> None:
    """Refuse a generation setting ``backend`` does not honour, naming it and what it does."""
    wanted = GenerationSettings.of(request).given()
    missing = [name for name in wanted if name not in backend.generation_settings]
    if missing:
        raise InvalidRequestError(
            f"provider {request.provider!r} has no equivalent of {missing[0]!r} "
            f"(it takes {_listed(backend.generation_settings)}); remove {missing[0]}, or run "
            "on a provider that takes it (see the table in docs/portable-context.md)",
            field=missing[0],
        )


#: Option names that mean a generation setting, and the run field that sets it.
_OPTION_FIELDS = {
    "temperature": "temperature",
    "max_output_tokens": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "stop": "stop",
    "stop_sequences": "stop",
}


def run_field_hint(options: Iterable[str]) -> str:
    """Advice for an option that is a generation setting's run field (or nothing)."""
    for option in options:
        field = _OPTION_FIELDS.get(option)
        if field is not None:
            return f" ({option!r} is a run field of its own: pass {field}=... instead)"
    return ""


def _listed(names: Iterable[str]) -> str:
    ordered = [n for n in GENERATION_FIELDS if n in set(names)]
    return ", ".join(ordered) if ordered else "no generation settings"
