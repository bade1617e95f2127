"""Redis for the resume tests: ``COPASS_ROUTER_TEST_REDIS`` (default the local service).

Each test gets a key prefix of its own, whose keys are deleted afterwards, so runs sharing the
server never see each other. When Redis is unreachable the Redis cases fail under CI (CI=true)
and are skipped elsewhere, with one summary line saying so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
_unreachable: dict[str, str] = {}


def redis_base() -> str:
    return os.environ.get("COPASS_ROUTER_TEST_REDIS", REDIS_DEFAULT)


async def _reachable(url: str) -> str | None:
    """None if Redis answers at ``url`` (with redis-py installed), else why not."""
    try:
        from redis.asyncio import Redis
    except ImportError:
        return "redis-py is not installed (pip install 'copass-router[redis]')"
    client = Redis.from_url(url)
    try:
        await asyncio.wait_for(client.ping(), 5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """(Redis URL, a key prefix no other test uses); the prefix's keys are deleted after."""
    from redis.asyncio import Redis

    url = redis_base()
    if url not in _unreachable:
        _unreachable[url] = await _reachable(url) or ""
    why = _unreachable[url]
    if why:
        message = f"Redis at {url} unreachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
    for url, why in _unreachable.items():
        if why:
            terminalreporter.write_line(
                f"RESUME SUITE: Redis cases SKIPPED, {url} unreachable ({why}); "
                "set COPASS_ROUTER_TEST_REDIS or start the service",
                red=True,
                bold=True,
            )
