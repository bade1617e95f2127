"""The built-in session store schemes (``sqlite``; ``postgresql`` with the postgres extra) and
the ``copass-router store`` and ``copass-router coordinator`` commands.

Each registered function imports what it needs when called: registering must stay cheap,
since every command (``copass-router providers`` too) loads the plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from copass_router.plugin_host._hookspecs import hookimpl
from copass_router.plugin_host._registrars import CommandRegistrar, StoreRegistrar

if TYPE_CHECKING:
    from copass_router.store import SessionStore


def sqlite_from_url(url: str) -> SessionStore:
    """The SQLite store for ``url`` (see ``copass_router.store.sqlite_from_url``)."""
    from copass_router import store

    return store.sqlite_from_url(url)


def postgres_from_url(url: str) -> SessionStore:
    """The PostgreSQL store for ``url`` (see ``copass_router.store.postgres_from_url``)."""
    from copass_router import store

    return store.postgres_from_url(url)


def coordinator_command(argv: list[str]) -> int:
    """``copass-router coordinator ...`` (see ``copass_router.cli._coordination``)."""
    from copass_router.cli._coordination import coordinator_command

    return coordinator_command(argv)


def store_command(argv: list[str]) -> int:
    """``copass-router store ...`` (see ``copass_router.cli._store``)."""
    from copass_router.cli._store import store_command

    return store_command(argv)


@hookimpl
def copass_router_register_stores(register: StoreRegistrar) -> None:
    register("sqlite", sqlite_from_url)
    register("postgresql", postgres_from_url)
    register("postgres", postgres_from_url)


@hookimpl
def copass_router_register_commands(register: CommandRegistrar) -> None:
    register("store", store_command, help="session store maintenance: store migrate")
    register(
        "coordinator",
        coordinator_command,
        help="what workers share live: coordinator rotate-key",
    )
