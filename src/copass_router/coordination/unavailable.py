"""The one error a coordinator raises when its service cannot be reached."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ..errors import RouterError


class CoordinatorUnavailableError(RouterError):
    """The coordinator (Redis) cannot be reached; retry once it is back."""

    code = "overloaded"
    retryable = True


@contextlib.asynccontextmanager
async def unavailable(doing: str) -> AsyncIterator[None]:
    """Turn the Redis client's connection and timeout errors into
    :class:`CoordinatorUnavailableError` saying what could not be done."""
    try:
        yield
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise CoordinatorUnavailableError(
            f"cannot {doing}: the coordinator is unreachable ({type(exc).__name__}); "
            "retry when it is back"
        ) from None
    except Exception as exc:
        if type(exc).__module__.startswith("redis") and _is_connection_error(exc):
            raise CoordinatorUnavailableError(
                f"cannot {doing}: the coordinator is unreachable ({type(exc).__name__}); "
                "retry when it is back"
            ) from None
        raise


def _is_connection_error(exc: BaseException) -> bool:
    import redis.exceptions as rex

    return isinstance(exc, rex.ConnectionError | rex.TimeoutError | rex.BusyLoadingError)
