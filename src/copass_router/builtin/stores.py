"""The built-in session store schemes (``sqlite``; ``postgresql`` with the postgres extra) and
the ``copass-router store`` and ``copass-router coordinator`` commands."""

from __future__ import annotations

from ..coordination.command import coordinator_command
from ..hookspecs import hookimpl
from ..registrars import CommandRegistrar, StoreRegistrar
from ..store import postgres_from_url, sqlite_from_url
from ..store.command import store_command


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
