"""What a hosted router's problem responses become on the client: the exception an in-process
router would have raised, else :class:`RemoteRouterError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from copass_router._errors import (
    ERROR_CODES,
    BudgetExceededError,
    DispatchAuthError,
    InvalidRequestError,
    ProviderError,
    RateLimitError,
    RouterError,
    SessionBusyError,
    SessionNotFoundError,
    UnknownProviderError,
)

if TYPE_CHECKING:
    import httpx


class RemoteRouterError(RouterError):
    """The hosted router answered with an error that has no closer exception (401, 5xx), or it
    could not be reached. ``status`` is the HTTP status (None when there was no answer)."""

    def __init__(
        self, message: str, *, code: str, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable


def error_from_problem(status: int, body: Mapping[str, Any]) -> RouterError:
    """The exception an in-process router would have raised, from a problem response.

    The ``code`` names it through the one table of neutral codes (``ERROR_CODES``); a code this
    client does not know (a newer router) is a :class:`RemoteRouterError` carrying it.
    """
    code = str(body.get("code") or "")
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    retryable = bool(body.get("retryable"))
    provider = body.get("provider")
    info = ERROR_CODES.get(code)
    kind = info.exception if info is not None else None
    if kind is UnknownProviderError:
        return UnknownProviderError(str(provider or ""), body.get("installed") or [])
    if kind is not None and issubclass(kind, InvalidRequestError):
        return kind(detail, field=body.get("field"))
    if kind is SessionNotFoundError or kind is SessionBusyError:
        return kind(str(body.get("session_id", "")))
    if kind is DispatchAuthError:
        return DispatchAuthError(detail, forbidden=status == 403)
    if kind is BudgetExceededError:
        return BudgetExceededError(
            limit=str(body.get("limit", "")),
            spent=str(body.get("spent", "")),
            allowed=str(body.get("allowed", "")),
            resets_at=str(body.get("resets_at", "")),
        )
    # A provider's code without a provider is the router's own trouble (its store or
    # coordinator down): a RemoteRouterError carrying the code, below.
    if provider and (kind is ProviderError or code in ERROR_CODES):
        return ProviderError(detail, provider=str(provider or ""), status=status, code=code)
    if kind is RateLimitError:
        return RateLimitError(detail, retry_after=_seconds(body.get("retry_after")))
    if kind is not None and kind not in (RouterError, ProviderError):
        return kind(detail)
    return RemoteRouterError(
        detail,
        code=code or f"http_{status}",
        status=status,
        retryable=retryable or status in (429, 502, 503, 504),
    )


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


async def raise_for_problem(response: httpx.Response) -> None:
    """Raise what an unsuccessful response's problem body says (nothing on success)."""
    if response.is_success:
        return
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        body = {"detail": f"HTTP {response.status_code} {response.reason_phrase}"}
    raise error_from_problem(response.status_code, body)
