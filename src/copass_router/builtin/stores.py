"""The built-in ``sqlite`` session store scheme."""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl
from ..store import sqlite_from_url


@hookimpl
def copass_router_register_stores(register: Callable[..., None]) -> None:
    register("sqlite", sqlite_from_url)
