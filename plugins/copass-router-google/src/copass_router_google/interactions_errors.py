"""``google-genai`` Interactions exceptions -> copass-router errors.

Imported only by the ``gemini-agents`` backend (it imports the SDK). The error body is
``{"error": {"code", "message"}}``; messages are scrubbed, and the key (sent as
``x-goog-api-key``) never reaches one.
"""

from __future__ import annotations

from typing import Any

from google.genai import _interactions as sdk_errors

from copass_router import ProviderError, get_logger, scrub

from .interactions_translate import PROVIDER

log = get_logger("copass_router_google.interactions_errors")

_HINTS = {
    401: "; check GEMINI_API_KEY",
    403: "; check the key's project has the Interactions API enabled",
    404: "; check the model name (the API does not serve it)",
}


def _body_error(body: Any) -> tuple[str | None, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (str(code) if code is not None else None), (str(message) if message else None)


def status_error(exc: sdk_errors.APIStatusError, doing: str) -> ProviderError:
    """A refused request (4xx/5xx) as a :class:`ProviderError`: the API's own code
    (``RESOURCE_EXHAUSTED``...) and the status give the neutral one."""
    status = exc.response.status_code
    native, message = _body_error(exc.body)
    return ProviderError.from_status(
        status,
        scrub(f"Gemini returned {status} trying to {doing}: {message or exc.message}")
        + _HINTS.get(status, ""),
        provider=PROVIDER,
        provider_code=native,
        request_id=exc.response.headers.get("x-request-id"),
        retry_after=_seconds(exc.response.headers.get("retry-after")),
    )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def connection_error(exc: sdk_errors.APIConnectionError, *, streaming: bool) -> ProviderError:
    """A network failure before the response or mid-stream (the cause goes to the log only)."""
    log.warning("connection_failed", provider=PROVIDER, error=scrub(type(exc).__name__))
    if streaming:
        return ProviderError(
            "the connection to Gemini broke mid-stream; the reply so far is kept, "
            "send the message again to retry",
            provider=PROVIDER,
            code="stream_cut",
        )
    if isinstance(exc, sdk_errors.APITimeoutError):
        return ProviderError("Gemini did not answer in time", provider=PROVIDER, code="timeout")
    return ProviderError(
        "cannot reach Gemini; check GEMINI_BASE_URL if you set it",
        provider=PROVIDER,
        code="connection_failed",
    )


def stream_incomplete() -> ProviderError:
    """The stream ended before the interaction reached a final status."""
    return ProviderError(
        "the stream from Gemini ended before the interaction finished; the reply so far is "
        "kept, send the message again to retry",
        provider=PROVIDER,
        code="stream_cut",
    )


__all__ = ["connection_error", "status_error", "stream_incomplete"]
