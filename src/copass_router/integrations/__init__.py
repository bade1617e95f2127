"""Integrations: the operator's MCP servers, offered to every provider as router tools.

Importing this package is cheap; the ``mcp`` SDK is imported when a server is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copass_router.integrations.catalog import MCPCatalog, tool_name
    from copass_router.integrations.config import (
        MCPServer,
        server_from_dict,
        servers_from_environ,
    )
    from copass_router.integrations.schemas import normalise_schema
    from copass_router.integrations.selection import select_tools

# Each name is imported from its module on first use: a router without MCP servers never loads
# the catalog (the per-run selection and the server settings are small modules of their own).
_LAZY = {
    "MCPCatalog": "catalog",
    "tool_name": "catalog",
    "MCPServer": "config",
    "server_from_dict": "config",
    "servers_from_environ": "config",
    "normalise_schema": "schemas",
    "select_tools": "selection",
}

__all__ = [
    "MCPCatalog",
    "MCPServer",
    "normalise_schema",
    "select_tools",
    "server_from_dict",
    "servers_from_environ",
    "tool_name",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
