"""Scale-out tests: several workers sharing PostgreSQL and Redis.

Redis comes from COPASS_ROUTER_TEST_REDIS (default: the local service, redis://127.0.0.1:6379/0);
each test gets a key prefix of its own, deleted afterwards, since other runs share the server.
PostgreSQL comes from the store suite's fixture (a fresh schema per test). When a service is
unreachable its cases fail under CI (CI=true) and are skipped elsewhere, with one loud summary
line.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ..services import redis_base, require_redis, write_summary
from ..store.conftest import fresh_schema


def drop_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def with_prefix(base: str, prefix: str) -> str:
    return base + ("&" if "?" in base else "?") + f"prefix={prefix}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A coordinator URL with a key prefix no other test uses (skip or fail when Redis is
    unreachable)."""
    base = redis_base()
    require_redis(base)
    prefix = f"copass_test_{uuid.uuid4().hex[:12]}"
    try:
        yield with_prefix(base, prefix)
    finally:
        drop_prefix(base, prefix)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema's URL (the store suite's fixture)."""
    async with fresh_schema() as url:
        yield url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)
