"""The store suite runs every test against each store: SQLite, and PostgreSQL.

PostgreSQL comes from COPASS_ROUTER_TEST_POSTGRES (default: the local service). Each test gets
a schema of its own, dropped afterwards, so runs sharing the server never see each other. When
the server is unreachable the PostgreSQL cases fail under CI (CI=true) and are skipped
elsewhere, with one summary line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from copass_router import Router, SessionStore

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
_unreachable: dict[str, str] = {}


def postgres_base() -> str:
    return os.environ.get("COPASS_ROUTER_TEST_POSTGRES", PG_DEFAULT)


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


async def _reachable(url: str) -> str | None:
    """None if PostgreSQL answers at ``url`` (with asyncpg installed), else why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install 'copass-router[postgres]')"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


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
    if base not in _unreachable:
        _unreachable[base] = await _reachable(base) or ""
    why = _unreachable[base]
    if why:
        message = f"PostgreSQL at {_shown(base)} unreachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
    for base, why in _unreachable.items():
        if why:
            terminalreporter.write_line(
                f"STORE SUITE: PostgreSQL cases SKIPPED, {_shown(base)} unreachable ({why}); "
                "set COPASS_ROUTER_TEST_POSTGRES or start the service",
                red=True,
                bold=True,
            )
