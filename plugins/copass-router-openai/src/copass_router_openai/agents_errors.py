"""The OpenAI Agents API's failures as the router's errors, with nothing secret in them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from copass_router import Error, ProviderError, get_logger, scrub

PROVIDER = "openai-agents"
log = get_logger("copass_router_openai.agents_errors")

_RETRYABLE_STATUS = frozenset({408, 409, 429})
#: The session ``error`` event's codes and types -> the core's neutral codes.
_SESSION_CODES = {
    "rate_limit_exceeded": "rate_limited",
    "server_overloaded": "overloaded",
    "server_error": "server_error",
    "invalid_request_error": "invalid_request",
    "context_length_exceeded": "context_length_exceeded",
    "content_filter": "refusal",
}
_RETRYABLE_CODES = frozenset({"rate_limited", "overloaded", "server_error"})


def api_error(exc: openai.APIError, action: str) -> ProviderError:
    """A :class:`ProviderError` for an SDK exception raised while doing ``action``.

    Built from the API's own message (OpenAI echoes a masked key in a 401: scrubbed).
    """
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f" ({exc.code})" if exc.code else ""
        return ProviderError(
            scrub(f"OpenAI Agents API: {action} failed with {status}{detail}: {exc.message}"),
            provider=PROVIDER,
            status=status,
            retryable=status in _RETRYABLE_STATUS or status >= 500,
            request_id=exc.request_id,
            detail={"provider_code": exc.code} if exc.code else None,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            f"OpenAI Agents API: {action} timed out",
            provider=PROVIDER,
            retryable=True,
            code="timeout",
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            f"OpenAI Agents API: {action} failed: could not connect",
            provider=PROVIDER,
            retryable=True,
            code="connection_failed",
        )
    log.warning("unexpected_sdk_error", action=action, error=scrub(repr(exc)))
    return ProviderError(
        f"OpenAI Agents API: {action} failed unexpectedly; the router's log has the details",
        provider=PROVIDER,
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the API asks to wait (``retry-after-ms``, then ``retry-after``)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def session_error(error: Any) -> Error:
    """The session's ``error`` event (``{code, message, type, param}``) as a neutral Error."""
    native = str(getattr(error, "code", None) or getattr(error, "type", None) or "provider_error")
    code = _SESSION_CODES.get(native, native)
    detail = {
        k: getattr(error, k, None)
        for k in ("type", "code", "param")
        if getattr(error, k, None) is not None
    }
    return Error(
        code=code,
        message=scrub(str(getattr(error, "message", "") or "the agent session failed")),
        retryable=code in _RETRYABLE_CODES,
        provider=PROVIDER,
        detail=detail or None,
    )


def stream_cut(times: int) -> ProviderError:
    """The event stream dropped more often than one turn tolerates."""
    return ProviderError(
        f"the OpenAI Agents event stream dropped {times} times in one turn",
        provider=PROVIDER,
        retryable=True,
        code="stream_cut",
    )
