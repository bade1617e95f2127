"""The services some tests need, PostgreSQL and Redis: where they are, whether they answer, and
a place of its own in each for the test that asks.

``COPASS_ROUTER_TEST_POSTGRES`` (default: the local service) and ``COPASS_ROUTER_TEST_REDIS``
(default: the local service, database 0). Each is asked once per process whether it answers;
when it does not, the tests that need it fail under CI (CI=true) and are skipped elsewhere, and
the run ends with one loud line per service saying why (the root conftest, from
:func:`unreachable`, gathered from every pytest-xdist worker).

Tests share the servers with each other, with parallel workers and with other runs: each test
gets a PostgreSQL schema (:func:`fresh_schema`, the ``postgres_url`` fixture) or a Redis key
prefix (:func:`fresh_redis_prefix`, the ``redis_url`` fixture) of its own, named after its worker
and a random part, and removed afterwards. A suite's conftest imports the fixtures it offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
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


def unreachable() -> list[tuple[str, str, str]]:
    """(service, URL without password, why) for each service asked this run that did not answer;
    the root conftest gathers these from every process and prints one loud line for each."""
    return [(service, shown(url), why) for (service, url), why in sorted(_checked.items()) if why]


def unique_name(separator: str = "_") -> str:
    """A name no other test uses: ``copass_test``, the pytest-xdist worker, a random part."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return separator.join(["copass_test", worker, uuid.uuid4().hex[:12]])


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` added to its query."""
    return url + ("&" if "?" in url else "?") + f"{name}={value}"


async def _drop_schema(base: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL naming a schema of its own, dropped on exit (skip or fail when the
    server is unreachable)."""
    base = postgres_base()
    await require_postgres(base)
    schema = unique_name()
    try:
        yield with_query(base, "schema", schema)
    finally:
        await _drop_schema(base, schema)


def _drop_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def fresh_redis_prefix(separator: str = "_") -> Iterator[str]:
    """A key prefix no other test uses (``separator`` joins its parts); every key under it is
    deleted on exit. Skips or fails when Redis is unreachable."""
    base = redis_base()
    require_redis(base)
    prefix = unique_name(separator)
    try:
        yield prefix
    finally:
        _drop_keys(base, prefix)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL URL naming a schema of this test's own, dropped afterwards."""
    async with fresh_schema() as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A coordinator URL (``?prefix=``) whose keys no other test shares, deleted afterwards."""
    with fresh_redis_prefix() as prefix:
        yield with_query(redis_base(), "prefix", prefix)
