"""``openai`` SDK exceptions -> copass-router errors and events.

Imported only by the backend (it imports the SDK). Messages are scrubbed: OpenAI echoes a
masked key in its 401 message, and no part of a key may reach an event.
"""

from __future__ import annotations

from typing import Any

import openai

from copass_router import Error, ProviderError, get_logger, scrub

log = get_logger("copass_router_openai.errors")


def _label(provider: str) -> str:
    return "OpenAI" if provider == "openai" else f"the {provider} server"


def status_error(exc: openai.APIStatusError, provider: str) -> ProviderError:
    """A refused request (4xx/5xx after the SDK's retries) as a :class:`ProviderError`."""
    status = exc.status_code
    detail = f" ({exc.code})" if exc.code else ""
    hint = ""
    if status == 401:
        hint = "; check the API key in the environment"
    elif status == 404:
        hint = "; check the model name (the provider does not serve it)"
    return ProviderError.from_status(
        status,
        scrub(f"{_label(provider)} returned {status}{detail}: {exc.message}{hint}"),
        provider=provider,
        provider_code=exc.code or None,
        request_id=exc.request_id,
    )


def connection_error(
    exc: openai.APIConnectionError, provider: str, base_url: str, *, streaming: bool
) -> ProviderError:
    """A network failure: before the response (cannot connect, timed out) or mid-stream.

    The message names the setting to check, not the URL or the exception: those are for the
    operator's log (a hosted router's base URL may be internal).
    """
    log.warning("connection_failed", provider=provider, base_url=base_url, error=_cause(exc))
    if streaming:
        return ProviderError(
            f"the connection to {_label(provider)} broke mid-stream; "
            "the reply so far is kept, send the message again to retry",
            provider=provider,
            code="stream_cut",
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            f"{_label(provider)} did not answer in time",
            provider=provider,
            code="timeout",
        )
    hint = (
        ""
        if provider == "openai"
        else "; is the server running, and is its base URL right "
        "(COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL or the run's base_url option)?"
    )
    return ProviderError(
        f"cannot reach {_label(provider)}{hint}",
        provider=provider,
        code="connection_failed",
    )


def stream_error_event(exc: openai.APIError, provider: str) -> Error:
    """An error the provider reported inside the stream (a ``{"error": ...}`` frame): its
    own code or type, which the core maps onto the neutral vocabulary."""
    body: Any = exc.body if isinstance(exc.body, dict) else {}
    detail = {k: body.get(k) for k in ("type", "code", "param") if body.get(k) is not None}
    return Error(
        code=str(exc.code or exc.type or "provider_error"),
        message=scrub(exc.message),
        provider=provider,
        detail=detail or None,
    )


def stream_incomplete(provider: str) -> ProviderError:
    """The stream ended cleanly but before the model said why it stopped."""
    return ProviderError(
        f"the stream from {_label(provider)} ended before the reply was complete; "
        "the reply so far is kept, send the message again to retry",
        provider=provider,
        code="stream_cut",
    )


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return scrub(f"{type(cause).__name__}: {cause}")
