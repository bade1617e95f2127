"""The store suite runs every test against each store: SQLite, and PostgreSQL.

PostgreSQL comes from COPASS_ROUTER_TEST_POSTGRES (default: the local service). Each test gets
a schema of its own, dropped afterwards, so runs sharing the server never see each other. When
the server is unreachable the PostgreSQL cases fail under CI (CI=true) and are skipped
elsewhere, with one summary line saying so.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from copass_router import Router, SessionStore

from ..services import postgres_base, require_postgres, write_summary


async def _drop(base: str, schema: str) -> None:
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
    schema = f"copass_test_{uuid.uuid4().hex[:12]}"
    try:
        yield base + ("&" if "?" in base else "?") + f"schema={schema}"
    finally:
        await _drop(base, schema)


@pytest.fixture(name="store_url", params=["sqlite", "postgresql"])
async def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL no other test uses: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
        return
    async with fresh_schema() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema's URL, for what only PostgreSQL has."""
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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)
