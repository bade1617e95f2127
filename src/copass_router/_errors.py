"""One exception hierarchy. Every message says what went wrong and what to do next."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from copass_router._error_codes import PROVIDER_CODES, ErrorCode, code_for_status, neutral_code


class RouterError(Exception):
    """Base of every error copass-router raises. ``code`` is stable and machine-readable."""

    code = "router_error"
    retryable = False


class RateLimitError(RouterError):
    """Too many runs at once for this caller (a hosted router's cap); retry after a while."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(RouterError):
    """The router or a backend is missing configuration it needs (a key, a URL, a secret)."""

    code = "configuration_error"


class InvalidRequestError(RouterError):
    """A run request is malformed. ``field`` names the offending field."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLargeError(InvalidRequestError):
    """A field (or a whole request) is over its size limit."""

    code = "payload_too_large"


class UnknownProviderError(InvalidRequestError):
    """No installed backend has this provider name.

    The message offers the nearest installed provider, and names a distribution to install only
    when the plugin directory (:mod:`copass_router.plugin_host._plugin_directory`) lists one for
    the name: a package name is never made up from what was typed.
    """

    code = "unknown_provider"

    def __init__(self, provider: str, installed: Iterable[str]) -> None:
        self.provider = provider
        self.installed = sorted(installed)
        super().__init__(_unknown_provider_message(provider, self.installed), field="provider")


def _unknown_provider_message(provider: str, installed: list[str]) -> str:
    from copass_router.plugin_host._plugin_directory import (
        DIRECTORY,
        DIRECTORY_DOC,
        find_plugin,
        nearest,
    )

    close = nearest(provider, installed)
    listed = ", ".join(installed) or "none"
    head = f"unknown provider {provider!r}; " + (
        f"did you mean {close!r}? Installed providers: {listed}."
        if close
        else f"installed providers: {listed}."
    )
    entry = find_plugin(provider)
    if entry is None and close is None:
        typo = nearest(provider, [p for e in DIRECTORY for p in e.providers])
        entry = find_plugin(typo) if typo else None
        if entry is not None:
            head += f" Did you mean {typo!r}?"
    if entry is None:
        known = ", ".join(e.name for e in DIRECTORY if e.providers)
        return (
            f"{head} No known plugin provides {provider!r}; "
            f"the plugin directory ({DIRECTORY_DOC}) lists: {known}."
        )
    return (
        f"{head} {entry.distribution} provides it: copass-router install {entry.name} "
        "(from this checkout or COPASS_ROUTER_PLUGIN_SOURCE; if it is installed, "
        "'copass-router plugins' shows why it did not load)."
    )


class SessionNotFoundError(RouterError):
    """No such session for this end user (another user's session is not found either)."""

    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"session {session_id!r} not found for this end user; "
            "omit session_id to start a new session"
        )
        self.session_id = session_id


class SessionBusyError(RouterError):
    """The session is already running a turn; turns on one session never interleave."""

    code = "session_busy"
    retryable = True

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"session {session_id!r} is running another turn; wait for it to finish and retry"
        )
        self.session_id = session_id


class ProviderError(RouterError):
    """The provider refused or failed a request.

    ``code`` is a neutral :class:`ErrorCode`, found by :func:`neutral_code` from what the
    provider said (its own code, its HTTP status); the provider's own code is kept in
    ``detail["provider_code"]``. ``retryable`` is always the error table's for the code (one
    vocabulary, one answer). ``retry_after`` is the wait in seconds the provider asked for.
    :meth:`from_status` is the one way a plugin turns a refused HTTP request into this error.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        detail: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.detail = dict(detail or {})
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        neutral = neutral_code(code, status)
        if code is not None and code != neutral:
            self.detail.setdefault("provider_code", code)
        self.code = neutral.value
        self.retryable = ERROR_CODES[neutral].retryable

    @classmethod
    def from_status(
        cls,
        status: int,
        message: str,
        *,
        provider: str,
        provider_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> ProviderError:
        """The error for a request the provider answered with HTTP ``status``.

        ``provider_code`` is the provider's own error code or type, if its body has one (it
        refines the status: a 400 ``context_length_exceeded``); it is kept in ``detail``.
        """
        return cls(
            message,
            provider=provider,
            status=status,
            request_id=request_id,
            code=provider_code,
            detail=detail,
            retry_after=retry_after,
        )


class BudgetExceededError(RouterError):
    """A budget is spent: the run is refused until the budget's period resets.

    ``limit`` names the budget (e.g. ``tenant acme: 100000 tokens per day``), ``spent`` and
    ``allowed`` are in its unit (tokens or USD), ``resets_at`` is when its period starts again
    (ISO 8601, UTC) and ``retry_after`` the seconds until then.
    """

    code = "budget_exceeded"

    def __init__(
        self,
        *,
        limit: str,
        spent: str,
        allowed: str,
        resets_at: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            f"budget exceeded: {limit} (spent {spent} of {allowed}); it resets at {resets_at}. "
            "Raise the budget or wait for the reset"
        )
        self.limit = limit
        self.spent = spent
        self.allowed = allowed
        self.resets_at = resets_at
        self.retry_after = retry_after


class ToolError(RouterError):
    """A tool failed. Inside a run this becomes an error result the model sees."""

    code = "tool_error"


class DispatchAuthError(RouterError):
    """A dispatch callback's token is missing, forged, expired or does not allow the call."""

    code = "dispatch_unauthorized"

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class PluginLoadError(RouterError):
    """A plugin failed to load (raised only in strict mode; otherwise it is reported)."""

    code = "plugin_load_error"


class InternalError(RouterError):
    """A bug: something failed that should not have (the log has the details)."""

    code = "internal_error"


@dataclasses.dataclass(frozen=True, slots=True)
class CodeInfo:
    """What a neutral code means on the wire: HTTP status, exception class, retryable."""

    status: int
    exception: type[RouterError]
    retryable: bool = False


#: The one table of neutral codes (see :class:`ErrorCode`), used by the hosted server's problem
#: responses and by ``RemoteRouter`` to raise what an in-process router would have raised.
ERROR_CODES: Mapping[str, CodeInfo] = {
    ErrorCode.AUTHENTICATION_FAILED: CodeInfo(502, ProviderError),
    ErrorCode.PERMISSION_DENIED: CodeInfo(502, ProviderError),
    ErrorCode.NOT_FOUND: CodeInfo(502, ProviderError),
    ErrorCode.INVALID_REQUEST: CodeInfo(400, InvalidRequestError),
    ErrorCode.CONTEXT_LENGTH_EXCEEDED: CodeInfo(502, ProviderError),
    ErrorCode.RATE_LIMITED: CodeInfo(429, RateLimitError, retryable=True),
    ErrorCode.OVERLOADED: CodeInfo(503, ProviderError, retryable=True),
    ErrorCode.SERVER_ERROR: CodeInfo(502, ProviderError, retryable=True),
    ErrorCode.CONNECTION_FAILED: CodeInfo(502, ProviderError, retryable=True),
    ErrorCode.STREAM_CUT: CodeInfo(502, ProviderError, retryable=True),
    ErrorCode.TIMEOUT: CodeInfo(504, ProviderError, retryable=True),
    ErrorCode.PROVIDER_ERROR: CodeInfo(502, ProviderError),
    ErrorCode.CONFIGURATION_ERROR: CodeInfo(503, ConfigurationError),
    ErrorCode.PAYLOAD_TOO_LARGE: CodeInfo(413, PayloadTooLargeError),
    ErrorCode.UNKNOWN_PROVIDER: CodeInfo(422, UnknownProviderError),
    ErrorCode.SESSION_NOT_FOUND: CodeInfo(404, SessionNotFoundError),
    ErrorCode.SESSION_BUSY: CodeInfo(409, SessionBusyError, retryable=True),
    ErrorCode.BUDGET_EXCEEDED: CodeInfo(402, BudgetExceededError),
    ErrorCode.DISPATCH_UNAUTHORIZED: CodeInfo(401, DispatchAuthError),
    ErrorCode.TOOL_ERROR: CodeInfo(500, ToolError),
    ErrorCode.PLUGIN_LOAD_ERROR: CodeInfo(500, PluginLoadError),
    ErrorCode.SHUTTING_DOWN: CodeInfo(503, RouterError, retryable=True),
    ErrorCode.RUN_NOT_FOUND: CodeInfo(404, RouterError),
    ErrorCode.RUN_LOG_EXPIRED: CodeInfo(410, RouterError),
    ErrorCode.RUN_LOG_TRIMMED: CodeInfo(410, RouterError),
    ErrorCode.RUN_LOG_UNAVAILABLE: CodeInfo(503, RouterError, retryable=True),
    ErrorCode.WORKER_LOST: CodeInfo(503, RouterError, retryable=True),
    ErrorCode.INTERNAL_ERROR: CodeInfo(500, InternalError),
    ErrorCode.OUTPUT_INVALID: CodeInfo(502, ProviderError),
    ErrorCode.ROUTER_UNREACHABLE: CodeInfo(503, RouterError, retryable=True),
    ErrorCode.CONNECTION_LOST: CodeInfo(502, RouterError, retryable=True),
}


__all__ = [
    "ERROR_CODES",
    "PROVIDER_CODES",
    "BudgetExceededError",
    "CodeInfo",
    "ConfigurationError",
    "DispatchAuthError",
    "ErrorCode",
    "InternalError",
    "InvalidRequestError",
    "PayloadTooLargeError",
    "PluginLoadError",
    "ProviderError",
    "RateLimitError",
    "RouterError",
    "SessionBusyError",
    "SessionNotFoundError",
    "ToolError",
    "UnknownProviderError",
    "code_for_status",
    "neutral_code",
]
