"""The OpenAI Agents API's failures as the router's errors, with nothing secret in them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from copass_router import ERROR_CODES, Error, ProviderError, get_logger, scrub

PROVIDER = "openai-agents"
log = get_logger("copass_router_openai.agents_errors")

#: The session ``error`` event's and a failed turn's codes the core's table does not know ->
#: neutral codes (the rest the core maps itself).
_SESSION_CODES = {
    "server_error": "server_error",
    "internal_error": "server_error",
    "request_timeout": "timeout",
    "resource_not_found": "not_found",
    "authentication_error": "authentication_failed",
    "invalid_request": "invalid_request",
    "session_budget_exceeded": "budget_exceeded",
    "connection_failed": "connection_failed",
}


def api_error(exc: openai.APIError, action: str) -> ProviderError:
    """A :class:`ProviderError` for an SDK exception raised while doing ``action``.

    Built from the API's own message (OpenAI echoes a masked key in a 401: scrubbed).
    """
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f" ({exc.code})" if exc.code else ""
        return ProviderError.from_status(
            status,
            scrub(f"OpenAI Agents API: {action} failed with {status}{detail}: {exc.message}"),
            provider=PROVIDER,
            provider_code=exc.code,
            request_id=exc.request_id,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            f"OpenAI Agents API: {action} timed out", provider=PROVIDER, code="timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            f"OpenAI Agents API: {action} failed: could not connect",
            provider=PROVIDER,
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
    """The session's ``error`` event or a failed turn's error (``{code, message, type?,
    param?}``) as a neutral Error; the provider's own code stays in ``detail``."""
    native = str(getattr(error, "code", None) or getattr(error, "type", None) or "provider_error")
    code = _SESSION_CODES.get(native, native)
    detail = {
        k: getattr(error, k, None)
        for k in ("type", "code", "param")
        if getattr(error, k, None) is not None
    }
    known = ERROR_CODES.get(code)
    return Error(
        code=code,
        message=scrub(str(getattr(error, "message", "") or "the agent session failed")),
        retryable=bool(known and known.retryable),
        provider=PROVIDER,
        detail=detail or None,
    )


def stream_cut(times: int) -> ProviderError:
    """The event stream dropped more often than one turn tolerates."""
    return ProviderError(
        f"the OpenAI Agents event stream dropped {times} times in one turn",
        provider=PROVIDER,
        code="stream_cut",
    )
