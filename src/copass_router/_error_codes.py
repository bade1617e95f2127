"""The neutral error vocabulary, and the one mapping of what providers say onto it.

:class:`ErrorCode` names every code; :func:`neutral_code` finds the code for a provider's own
code or HTTP status (:data:`PROVIDER_CODES`, :func:`code_for_status`). What each code means on
the wire (HTTP status, exception, retryable) is ``ERROR_CODES`` in the errors module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ErrorCode(enum.StrEnum):
    """The neutral error vocabulary: every ``Error.code`` and every exception's ``code`` is one.

    Providers map their own codes onto these (the provider's code stays in ``detail``). The
    table :data:`ERROR_CODES` says, per code, the HTTP status a hosted router answers with, the
    exception class a client raises and whether the same request may succeed later.
    """

    # What a provider can say.
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    INVALID_REQUEST = "invalid_request"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    CONNECTION_FAILED = "connection_failed"
    STREAM_CUT = "stream_cut"
    TIMEOUT = "timeout"
    PROVIDER_ERROR = "provider_error"
    # What the router itself can say.
    CONFIGURATION_ERROR = "configuration_error"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_PROVIDER = "unknown_provider"
    SESSION_NOT_FOUND = "session_not_found"
    SESSION_BUSY = "session_busy"
    BUDGET_EXCEEDED = "budget_exceeded"
    DISPATCH_UNAUTHORIZED = "dispatch_unauthorized"
    TOOL_ERROR = "tool_error"
    PLUGIN_LOAD_ERROR = "plugin_load_error"
    SHUTTING_DOWN = "shutting_down"
    RUN_NOT_FOUND = "run_not_found"
    RUN_LOG_EXPIRED = "run_log_expired"
    RUN_LOG_TRIMMED = "run_log_trimmed"
    RUN_LOG_UNAVAILABLE = "run_log_unavailable"
    WORKER_LOST = "worker_lost"
    INTERNAL_ERROR = "internal_error"
    OUTPUT_INVALID = "output_invalid"
    # What a client of a hosted router can say.
    ROUTER_UNREACHABLE = "router_unreachable"
    CONNECTION_LOST = "connection_lost"


_NEUTRAL = frozenset(code.value for code in ErrorCode)

_BY_STATUS = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.AUTHENTICATION_FAILED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    408: ErrorCode.TIMEOUT,
    409: ErrorCode.SERVER_ERROR,
    413: ErrorCode.CONTEXT_LENGTH_EXCEEDED,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.OVERLOADED,
    529: ErrorCode.OVERLOADED,
}


def code_for_status(status: int | None) -> ErrorCode:
    """The neutral code for a provider's HTTP status (None: ``provider_error``)."""
    if status is None:
        return ErrorCode.PROVIDER_ERROR
    code = _BY_STATUS.get(status)
    if code is not None:
        return code
    return ErrorCode.SERVER_ERROR if status >= 500 else ErrorCode.INVALID_REQUEST


#: Providers' own error codes and types (lower case) -> neutral codes: Anthropic's error types,
#: OpenAI's codes, Google's RPC statuses. A code not here falls back to the HTTP status.
PROVIDER_CODES: Mapping[str, ErrorCode] = {
    "invalid_request_error": ErrorCode.INVALID_REQUEST,
    "invalid_argument": ErrorCode.INVALID_REQUEST,
    "failed_precondition": ErrorCode.INVALID_REQUEST,
    "invalid_value": ErrorCode.INVALID_REQUEST,
    "authentication_error": ErrorCode.AUTHENTICATION_FAILED,
    "invalid_api_key": ErrorCode.AUTHENTICATION_FAILED,
    "unauthenticated": ErrorCode.AUTHENTICATION_FAILED,
    "permission_error": ErrorCode.PERMISSION_DENIED,
    "billing_error": ErrorCode.PERMISSION_DENIED,
    "insufficient_quota": ErrorCode.PERMISSION_DENIED,
    "not_found_error": ErrorCode.NOT_FOUND,
    "model_not_found": ErrorCode.NOT_FOUND,
    "request_too_large": ErrorCode.CONTEXT_LENGTH_EXCEEDED,
    "string_above_max_length": ErrorCode.CONTEXT_LENGTH_EXCEEDED,
    "rate_limit_error": ErrorCode.RATE_LIMITED,
    "rate_limit_exceeded": ErrorCode.RATE_LIMITED,
    "resource_exhausted": ErrorCode.RATE_LIMITED,
    "overloaded_error": ErrorCode.OVERLOADED,
    "server_overloaded": ErrorCode.OVERLOADED,
    "service_unavailable": ErrorCode.OVERLOADED,
    "unavailable": ErrorCode.OVERLOADED,
    "model_overloaded_error": ErrorCode.OVERLOADED,
    "model_rate_limited_error": ErrorCode.RATE_LIMITED,
    "model_request_failed_error": ErrorCode.SERVER_ERROR,
    "api_error": ErrorCode.SERVER_ERROR,
    "internal": ErrorCode.SERVER_ERROR,
    "retries_exhausted": ErrorCode.SERVER_ERROR,
    "timeout_error": ErrorCode.TIMEOUT,
    "request_timeout": ErrorCode.TIMEOUT,
    "resource_not_found": ErrorCode.NOT_FOUND,
    "session_budget_exceeded": ErrorCode.BUDGET_EXCEEDED,
    "deadline_exceeded": ErrorCode.TIMEOUT,
}


_GENERIC = frozenset({ErrorCode.SERVER_ERROR, ErrorCode.INVALID_REQUEST})


def neutral_code(code: str | None, status: int | None = None) -> ErrorCode:
    """The neutral code for what a provider said: ``code`` if it is neutral, else the neutral
    code of the provider's own ``code`` (:data:`PROVIDER_CODES`), else what ``status`` implies
    (:func:`code_for_status`), else ``provider_error``."""
    if code is not None:
        if code in _NEUTRAL:
            return ErrorCode(code)
        known = PROVIDER_CODES.get(code.lower())
        # A generic provider code ("api_error") says less than the status (503: overloaded).
        if known is not None and (status is None or known not in _GENERIC):
            return known
        if status is None and code.isdigit() and len(code) == 3:  # a status given as a code
            status = int(code)
    return code_for_status(status)
