"""The errors a router raises while a service it shares with other workers is down.

Both are retryable and say what could not be done; the full cause goes to the log only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from copass_router._errors import RouterError
from copass_router._logs import get_logger, scrub

log = get_logger("copass_router.outages")


class CoordinatorUnavailableError(RouterError):
    """The coordinator (Redis) cannot be reached; retry once it is back."""

    code = "overloaded"
    retryable = True


class StoreUnavailableError(RouterError):
    """The session store (PostgreSQL, a SQLite file) failed to answer; retry once it is back.
    Nothing was half-written: a turn that could not start did not start."""

    code = "overloaded"
    retryable = True


@contextlib.asynccontextmanager
async def coordinator_call(doing: str) -> AsyncIterator[None]:
    """Turn the Redis client's connection and timeout errors into
    :class:`CoordinatorUnavailableError` saying what could not be done."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, OSError | TimeoutError) or _redis_connection_error(exc):
            raise CoordinatorUnavailableError(
                f"cannot {doing}: the coordinator is unreachable ({type(exc).__name__}); "
                "retry when it is back"
            ) from None
        raise


@contextlib.asynccontextmanager
async def store_call(doing: str) -> AsyncIterator[None]:
    """Turn a store failure that is not one of the router's own errors (a lost connection, a
    refused one, a server restarting) into :class:`StoreUnavailableError`."""
    try:
        yield
    except RouterError:
        raise
    except Exception as exc:
        log.error("store_unavailable", doing=doing, error=scrub(repr(exc)))
        raise StoreUnavailableError(
            f"cannot {doing}: the session store failed ({type(exc).__name__}); retry shortly"
        ) from None


def _redis_connection_error(exc: BaseException) -> bool:
    if not type(exc).__module__.startswith("redis"):
        return False
    import redis.exceptions as rex

    return isinstance(exc, rex.ConnectionError | rex.TimeoutError | rex.BusyLoadingError)
