"""The services some tests need, PostgreSQL and Redis: where they are and whether they answer.

``COPASS_ROUTER_TEST_POSTGRES`` (default: the local service) and ``COPASS_ROUTER_TEST_REDIS``
(default: the local service, database 0). Each is asked once per run whether it answers; when
it does not, the tests that need it fail under CI (CI=true) and are skipped elsewhere, and the
run ends with one loud line per service saying why (:func:`write_summary`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"

# (service, URL) -> why it does not answer ("" when it does)
_checked: dict[tuple[str, str], str] = {}


def postgres_base() -> str:
    return os.environ.get("COPASS_ROUTER_TEST_POSTGRES", PG_DEFAULT)


def redis_base() -> str:
    return os.environ.get("COPASS_ROUTER_TEST_REDIS", REDIS_DEFAULT)


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


async def _postgres_problem(url: str) -> str:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install 'copass-router[postgres]')"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return ""


def _redis_problem(url: str) -> str:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'copass-router[redis]')"
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return ""


def _require(service: str, url: str) -> None:
    why = _checked[(service, url)]
    if why:
        message = f"{service} at {shown(url)} unreachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


async def require_postgres(url: str) -> None:
    """Skip the test (fail it under CI) unless PostgreSQL answers at ``url``."""
    if ("PostgreSQL", url) not in _checked:
        _checked[("PostgreSQL", url)] = await _postgres_problem(url)
    _require("PostgreSQL", url)


def require_redis(url: str) -> None:
    """Skip the test (fail it under CI) unless Redis answers at ``url``."""
    if ("Redis", url) not in _checked:
        _checked[("Redis", url)] = _redis_problem(url)
    _require("Redis", url)


async def require_redis_async(url: str) -> None:
    """:func:`require_redis` off the event loop."""
    if ("Redis", url) not in _checked:
        _checked[("Redis", url)] = await asyncio.to_thread(_redis_problem, url)
    _require("Redis", url)


_reported: set[tuple[str, str]] = set()


def write_summary(terminalreporter: Any) -> None:
    """One loud line per service that did not answer (once, whichever suite's hook calls it)."""
    variable = {"PostgreSQL": "COPASS_ROUTER_TEST_POSTGRES", "Redis": "COPASS_ROUTER_TEST_REDIS"}
    for (service, url), why in sorted(_checked.items()):
        if why and (service, url) not in _reported:
            _reported.add((service, url))
            terminalreporter.write_line(
                f"{service} cases SKIPPED, {shown(url)} unreachable ({why}); "
                f"set {variable[service]} or start the service",
                red=True,
                bold=True,
            )
