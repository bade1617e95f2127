"""The store suite runs every test against each store: SQLite, and PostgreSQL.

PostgreSQL is the one tests/services.py finds: each test gets a schema of its own, dropped
afterwards (``postgres_url``, for what only PostgreSQL has, is the same).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import Router, SessionStore

from ..services import fresh_schema, postgres_url

__all__ = ["postgres_url"]  # a fixture, for what only PostgreSQL has


@pytest.fixture(name="store_url", params=["sqlite", "postgresql"])
async def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL no other test uses: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
        return
    async with fresh_schema() as url:
        yield url


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Callable[..., SessionStore]]:
    """Opens stores on the test's URL (keywords go to the store class); closes them after."""
    opened: list[SessionStore] = []

    def opener(**kwargs: Any) -> SessionStore:
        router = Router(store=store_url, load_entry_points=False, environ={})
        store = router.store
        for name, value in kwargs.items():
            setattr(store, name, value)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Callable[..., SessionStore]) -> SessionStore:
    """A store on the test's URL."""
    return open_store()
