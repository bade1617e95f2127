"""Integrations: the operator's MCP servers, offered to every provider as router tools.

Importing this package is cheap; the ``mcp`` SDK is imported when a server is first used.
"""

from copass_router.integrations.catalog import MCPCatalog, tool_name
from copass_router.integrations.config import MCPServer, server_from_dict, servers_from_environ
from copass_router.integrations.schemas import normalise_schema
from copass_router.integrations.selection import select_tools

__all__ = [
    "MCPCatalog",
    "MCPServer",
    "normalise_schema",
    "select_tools",
    "server_from_dict",
    "servers_from_environ",
    "tool_name",
]
