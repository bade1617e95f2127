"""A turn's failures as neutral ``Error`` events, and in-band errors in the one vocabulary."""

from __future__ import annotations

import attrs

from copass_router._errors import ERROR_CODES, ErrorCode, ProviderError, RouterError, neutral_code
from copass_router._events import Error, Event
from copass_router._logs import get_logger, scrub
from copass_router.provider_kit._backend import Turn
from copass_router.run._nesting import MAX_DEPTH

log = get_logger("copass_router.run")


def error_event(exc: BaseException, provider: str) -> Error:
    """The neutral Error event for an exception raised while a turn ran.

    A :class:`RouterError` says what happened in its own (scrubbed) words; anything else is a
    bug in a backend: the event says so in neutral words and the detail goes to the log only.
    """
    if isinstance(exc, ProviderError):
        detail = {**exc.detail, "status": exc.status, "request_id": exc.request_id}
        return Error(
            code=exc.code,
            message=scrub(str(exc)) or exc.code,
            retryable=exc.retryable,
            provider=exc.provider,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    if isinstance(exc, RouterError):
        code = neutral_code(exc.code)
        return Error(
            code=code.value,
            message=scrub(str(exc)) or exc.code,
            retryable=ERROR_CODES[code].retryable,
            provider=provider,
        )
    return Error(
        code=ErrorCode.INTERNAL_ERROR.value,
        message=f"provider {provider!r} failed unexpectedly; the router's log has the details",
        provider=provider,
    )


def neutral_error(event: Error) -> Error:
    """``event`` in the one vocabulary: a neutral code (a provider's own code moves to
    ``detail["provider_code"]``) and the error table's ``retryable`` for it."""
    code = neutral_code(event.code)
    retryable = ERROR_CODES[code].retryable
    if code == event.code and retryable == event.retryable:
        return event
    detail = dict(event.detail or {})
    if code != event.code:
        detail.setdefault("provider_code", event.code)
    return attrs.evolve(event, code=code.value, retryable=retryable, detail=detail or None)


def as_exception(error: Error, provider: str) -> ProviderError:
    """An in-band error as the exception a backend could have raised (for the retry path)."""
    return ProviderError(error.message, provider=error.provider or provider, code=error.code)


def too_deep_error(event: Event, turn: Turn) -> Error:
    # Sent as it is, the event would cut the stream (RecursionError while serialising) and
    # leave the turn unrecorded; the turn stops here instead.
    log.warning("event_too_deep", run_id=turn.run_id, event_type=event.type)
    return Error(
        code="payload_too_large",
        message=f"a {event.type} event nested deeper than {MAX_DEPTH} levels; the turn was stopped",
        provider=turn.provider,
    )
