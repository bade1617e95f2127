"""When and how long the core waits before retrying a failed model request."""

from __future__ import annotations

import random

import attrs

from copass_router._errors import ProviderError

#: The default of every provider SDK's own retries: none. The core retries a failed model
#: request (:class:`RetryPolicy`, default 2); an SDK retrying too would multiply the attempts
#: (three of the SDK's for each of the core's). A plugin's ``*_MAX_RETRIES`` setting turns an
#: SDK's retries on.
PROVIDER_SDK_RETRIES = 0


@attrs.frozen
class RetryPolicy:
    """Retries of retryable errors that happen before a model request produced output.

    The wait before retry ``n`` (from 1) is ``initial_delay * 2 ** (n - 1)`` with full jitter,
    capped at ``max_delay``; a provider's ``retry_after`` replaces it (capped the same way).
    Retries never outlast the turn's timeout. ``RetryPolicy(max_retries=0)`` turns them off.
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    initial_delay: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: bool = True

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        ceiling = min(self.initial_delay * 2 ** (attempt - 1), self.max_delay)
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling


def retry_delay(policy: RetryPolicy, exc: BaseException, retries_so_far: int) -> float | None:
    """Seconds to wait before retrying after ``exc``, or None when it is not to be retried."""
    if not isinstance(exc, ProviderError) or not exc.retryable:
        return None
    if retries_so_far >= policy.max_retries:
        return None
    return policy.delay(retries_so_far + 1, exc.retry_after)
