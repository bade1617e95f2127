"""JSON problem responses (RFC 9457): every error the hosted API answers before a stream starts.

A problem body is ``{"type", "title", "status", "detail", "code"}`` plus members that help the
caller act on it: ``field`` for a bad request field, ``installed`` for an unknown provider,
``session_id``, ``retryable``. ``code`` is the stable, machine-readable part; clients map it back
to the same exception the in-process router raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from copass_router._errors import (
    ERROR_CODES,
    BudgetExceededError,
    ConfigurationError,
    DispatchAuthError,
    ErrorCode,
    InvalidRequestError,
    ProviderError,
    RouterError,
    SessionBusyError,
    SessionNotFoundError,
    UnknownProviderError,
)
from copass_router._logs import get_logger, scrub

log = get_logger("copass_router.server")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:copass-router:problem:"


class ShuttingDownError(RouterError):
    """The server is draining and takes no new runs."""

    code = "shutting_down"
    retryable = True

    def __init__(self) -> None:
        super().__init__("the router is shutting down; retry against another instance or later")


_TITLES = {
    "invalid_request": "Invalid request",
    "unknown_provider": "Unknown provider",
    "unauthorized": "Missing or unknown API key",
    "forbidden": "Forbidden",
    "session_not_found": "Session not found",
    "session_busy": "Session busy",
    "dispatch_unauthorized": "Dispatch token refused",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "payload_too_large": "Request body too large",
    "shutting_down": "Shutting down",
    "configuration_error": "Router misconfigured",
    "rate_limited": "Too many runs in flight",
    "unsupported_media_type": "Unsupported media type",
    "request_timeout": "Request timeout",
    "provider_error": "Provider error",
    "internal_error": "Internal error",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem response; ``extra`` members with value None are left out."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": scrub(detail),
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def unauthorized(detail: str) -> JSONResponse:
    """401 for a missing or unknown API key."""
    return problem(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="copass-router"'}
    )


def problem_for(exc: RouterError) -> JSONResponse:
    """The problem response for an error the router raised before a run's stream started.

    The status comes from the one table of neutral codes (``ERROR_CODES``, docs/events.md);
    members that help the caller act (``field``, ``installed``, ``session_id``, ``provider``,
    ``retryable``) come from the exception. Operators' details stay in the log.
    """
    code = exc.code if exc.code in ERROR_CODES else ErrorCode.INTERNAL_ERROR.value
    status = ERROR_CODES[code].status
    message = str(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidRequestError):
        extra["field"] = exc.field
    if isinstance(exc, UnknownProviderError):
        extra.update(field="provider", provider=exc.provider, installed=list(exc.installed))
    if isinstance(exc, SessionNotFoundError | SessionBusyError):
        extra["session_id"] = exc.session_id
    if isinstance(exc, DispatchAuthError) and exc.forbidden:
        status = 403
    if isinstance(exc, ProviderError):
        extra["provider"] = exc.provider
    headers = None
    if isinstance(exc, BudgetExceededError):
        extra.update(limit=exc.limit, spent=exc.spent, allowed=exc.allowed, resets_at=exc.resets_at)
        if exc.retry_after is not None:
            headers = {"Retry-After": str(max(int(exc.retry_after), 1))}
    if isinstance(exc, ConfigurationError):
        # The operator's problem, not the caller's: which key or URL is missing stays in the log.
        log.error("configuration_error", error=scrub(message))
        message = "the router is not configured for this request; tell its operator"
    elif code == ErrorCode.INTERNAL_ERROR:
        log.error("router_error", code=exc.code, error=scrub(message))
        message = "the router failed; the operator's log has the details"
    if exc.retryable:
        extra["retryable"] = True
        wait = getattr(exc, "retry_after", None) or (5 if code == "shutting_down" else 1)
        extra["retry_after"] = max(1, round(wait))
        headers = {"Retry-After": str(extra["retry_after"])}
    return problem(status, code, message, headers=headers, **extra)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (unknown route, wrong method) as problems."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(
        exc.status_code, "invalid_request" if exc.status_code < 500 else "internal_error"
    )
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    """Anything unexpected: logged here, never described to the caller."""
    log.error("request_failed", path=request.url.path, error=scrub(repr(exc)))
    return problem(500, "internal_error", "the router failed; the operator's log has the details")
