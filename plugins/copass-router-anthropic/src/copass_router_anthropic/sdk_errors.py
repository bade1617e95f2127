"""The anthropic SDK's exceptions as the router's :class:`ProviderError`, with nothing secret."""

from __future__ import annotations

from collections.abc import Mapping

import anthropic

from copass_router import ProviderError, get_logger, scrub

log = get_logger("copass_router_anthropic.sdk_errors")


def _clean(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return scrub(text)


def provider_error(exc: Exception, action: str, *, secret: str | None = None) -> ProviderError:
    """A :class:`ProviderError` for an SDK exception raised while doing ``action``.

    The message is built from the API's own error message and type, never from request data,
    and is scrubbed of anything that looks like a key (``secret`` is removed verbatim too).
    """
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        detail = exc.api_message or exc.type or "no message"
        kind = f" {exc.type}" if exc.type else ""
        return ProviderError.from_status(
            status,
            _clean(f"Anthropic API: {action} failed ({status}{kind}): {detail}", secret),
            provider="anthropic",
            provider_code=exc.type,
            request_id=exc.request_id,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError(
            f"Anthropic API: {action} timed out",
            provider="anthropic",
            code="timeout",
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(
            f"Anthropic API: {action} failed: could not connect",
            provider="anthropic",
            code="connection_failed",
        )
    log.warning("unexpected_sdk_error", action=action, error=_clean(repr(exc), secret))
    return ProviderError(
        f"Anthropic API: {action} failed unexpectedly; the router's log has the details",
        provider="anthropic",
    )


def retry_after(headers: Mapping[str, str], *, limit: float) -> float | None:
    """Seconds the API asks to wait (``retry-after-ms``, then ``retry-after``), capped."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return min(seconds, limit)
    return None
