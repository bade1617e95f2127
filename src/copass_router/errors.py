"""One exception hierarchy. Every message says what went wrong and what to do next."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class RouterError(Exception):
    """Base of every error copass-router raises. ``code`` is stable and machine-readable."""

    code = "router_error"
    retryable = False


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
    when the plugin directory (:mod:`copass_router.plugin_directory`) lists one for the name:
    a package name is never made up from what was typed.
    """

    code = "unknown_provider"

    def __init__(self, provider: str, installed: Iterable[str]) -> None:
        self.provider = provider
        self.installed = sorted(installed)
        super().__init__(_unknown_provider_message(provider, self.installed), field="provider")


def _unknown_provider_message(provider: str, installed: list[str]) -> str:
    from .plugin_directory import DIRECTORY, DIRECTORY_DOC, find_plugin, nearest

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
        known = ", ".join(e.name for e in DIRECTORY)
        return (
            f"{head} No known plugin provides {provider!r}; "
            f"the plugin directory ({DIRECTORY_DOC}) lists: {known}."
        )
    return (
        f"{head} {entry.distribution} provides it: copass-router install {entry.name} "
        f"(or: pip install {entry.distribution}; if it is installed, "
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
    """The provider refused or failed a request."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
        code: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.detail = dict(detail or {})
        self.status = status
        self.retryable = retryable
        self.request_id = request_id
        if code is not None:
            self.code = code


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
