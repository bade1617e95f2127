"""Session stores: the interface, the SQLite default, and opening one from a URL."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from copass_router._errors import ConfigurationError
from copass_router.store._base import SessionStore, TurnStart
from copass_router.store._sqlite import SQLiteStore

StoreFactory = Callable[[str], SessionStore]

__all__ = [
    "SQLiteStore",
    "SessionStore",
    "TurnStart",
    "default_store_url",
    "open_store",
    "postgres_from_url",
    "sqlite_from_url",
]


def default_store_url(environ: Mapping[str, str] | None = None) -> str:
    """``COPASS_ROUTER_STORE`` if set, else a SQLite file in the user data directory."""
    env = os.environ if environ is None else environ
    if env.get("COPASS_ROUTER_STORE"):
        return env["COPASS_ROUTER_STORE"]
    import platformdirs

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("copass-router")) / "sessions.db")


def sqlite_from_url(url: str) -> SessionStore:
    """``sqlite:///relative/path``, ``sqlite:////absolute/path`` or ``:memory:``."""
    if url in (":memory:", "sqlite://:memory:", "sqlite:///:memory:"):
        return SQLiteStore(":memory:")
    if not url.startswith("sqlite:///"):
        raise ConfigurationError(f"bad SQLite store URL {url!r}; use sqlite:///path/to/file.db")
    return SQLiteStore(url.removeprefix("sqlite:///"))


def postgres_from_url(url: str) -> SessionStore:
    """``postgresql://user@host:port/db[?schema=NAME]``; asyncpg is imported on first use."""
    import importlib.util

    if importlib.util.find_spec("asyncpg") is None:
        raise ConfigurationError(
            "the PostgreSQL store needs asyncpg: pip install 'copass-router[postgres]'"
        )
    from copass_router.store._postgres import PostgresStore

    return PostgresStore(url)


def open_store(url: str, schemes: Mapping[str, StoreFactory]) -> SessionStore:
    """Open the store a URL names, using the factories registered by scheme."""
    scheme = "sqlite" if url == ":memory:" else url.partition("://")[0]
    factory = schemes.get(scheme)
    if factory is None:
        known = ", ".join(sorted(schemes)) or "none"
        raise ConfigurationError(
            f"no session store for URL scheme {scheme!r} (COPASS_ROUTER_STORE); "
            f"installed schemes: {known}"
        )
    return factory(url)
