"""Redis for the resume tests: ``COPASS_ROUTER_TEST_REDIS`` (default the local service).

Each test gets a key prefix of its own, whose keys are deleted afterwards, so runs sharing the
server never see each other. When Redis is unreachable the Redis cases fail under CI (CI=true)
and are skipped elsewhere, with one summary line saying so.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ...services import redis_base, require_redis_async, write_summary


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """(Redis URL, a key prefix no other test uses); the prefix's keys are deleted after."""
    from redis.asyncio import Redis

    url = redis_base()
    await require_redis_async(url)
    prefix = f"copass-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield url, prefix
    finally:
        client = Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)
