"""Redis for the resume tests: the one tests/services.py finds, with a key prefix of each
test's own, whose keys are deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...services import fresh_redis_prefix, redis_base


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """(Redis URL, a key prefix no other test uses); the prefix's keys are deleted after."""
    with fresh_redis_prefix("-") as prefix:
        yield redis_base(), prefix + ":"
