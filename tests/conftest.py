"""Fixtures every suite under tests/ may use: a place of its own in PostgreSQL and in Redis
(tests/services.py says where they are and what happens when they do not answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .services import fresh_redis_prefix, fresh_schema, redis_base, with_query


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
