"""The built-in ``sqlite`` session store scheme."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..registrars import StoreRegistrar
from ..store import sqlite_from_url


@hookimpl
def copass_router_register_stores(register: StoreRegistrar) -> None:
    register("sqlite", sqlite_from_url)
