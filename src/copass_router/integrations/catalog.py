"""The operator's MCP servers as router tools: one :class:`~copass_router.Tool` per server tool.

Each tool is named ``<server>__<tool>`` (two servers' ``search`` stay apart) and keeps the
server's own JSON schema, which the dispatcher validates arguments against. Calling it calls
the server; the router's one dispatcher runs it for whichever provider runs the turn, so no
provider knows MCP. Built tools are cached per server until its tool list changes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from copass_router._logs import get_logger
from copass_router._types import ToolSpec
from copass_router.integrations.config import MCPServer, check_unique
from copass_router.integrations.connection import MCPConnection
from copass_router.integrations.results import render_result
from copass_router.tools._tools import Tool, ToolOutput

log = get_logger("copass_router.integrations")

#: Longest tool name every provider takes (Anthropic, OpenAI and Gemini all stop at 64).
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: Seconds before a server that could not be reached is tried again.
RETRY_AFTER = 5.0


def tool_name(server: str, tool: str) -> str:
    """The router name of ``server``'s ``tool``: ``server__tool``, safe for every provider."""
    name = f"{server}__{_UNSAFE.sub('_', tool)}"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether ``name`` is one of ``patterns`` (names or ``fnmatch`` patterns)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class MCPCatalog:
    """The router tools of every configured MCP server, connected on first use."""

    def __init__(self, servers: Sequence[MCPServer], environ: Mapping[str, str]) -> None:
        check_unique(servers)
        self.connections = [MCPConnection(s, environ) for s in servers]
        self._built: dict[str, tuple[int, list[Tool]]] = {}
        self._down_until: dict[str, float] = {}

    @property
    def servers(self) -> list[MCPServer]:
        """The configured servers."""
        return [c.server for c in self.connections]

    async def tools(self) -> list[Tool]:
        """Every server's tools; a server that cannot be reached offers none this time (and
        is logged), so one broken integration does not stop every run."""
        found = await asyncio.gather(*(self._server_tools(c) for c in self.connections))
        return [t for tools in found for t in tools]

    async def _server_tools(self, connection: MCPConnection) -> list[Tool]:
        name = connection.server.name
        if time.monotonic() < self._down_until.get(name, 0.0):
            return []
        try:
            listing = await connection.list_tools()
        except (ConnectionError, TimeoutError, OSError) as exc:
            self._down_until[name] = time.monotonic() + RETRY_AFTER
            log.warning("mcp server unavailable", server=name, error=str(exc))
            await connection.reset()
            return []
        cached = self._built.get(name)
        if cached is not None and cached[0] == connection.generation:
            return cached[1]
        tools = [
            self._tool(connection, t)
            for t in listing
            if not connection.server.tools or matches(t.name, connection.server.tools)
        ]
        self._built[name] = (connection.generation, tools)
        return tools

    def _tool(self, connection: MCPConnection, listed: Any) -> Tool:
        server = connection.server
        original = str(listed.name)
        routed = tool_name(server.name, original)
        schema = dict(getattr(listed, "input_schema", None) or getattr(listed, "inputSchema", {}))
        schema.setdefault("type", "object")

        async def call(**arguments: Any) -> ToolOutput:
            return await call_mcp_tool(connection, original, arguments)

        call.__name__ = routed
        description = str(listed.description or "")
        return Tool(
            spec=ToolSpec(name=routed, description=description, parameters=schema),
            function=call,
            timeout=server.timeout,
            requires_approval=matches(original, server.require_approval),
        )

    async def aclose(self) -> None:
        """Close every connection."""
        for connection in self.connections:
            await connection.aclose()


async def call_mcp_tool(
    connection: MCPConnection, name: str, arguments: Mapping[str, Any]
) -> ToolOutput:
    """Call one MCP tool; whatever goes wrong comes back as an error result the model sees."""
    from mcp.shared.exceptions import MCPError

    server = connection.server.name
    try:
        result = await connection.call_tool(name, arguments)
    except ConnectionError as exc:
        return ToolOutput(str(exc), is_error=True)
    except MCPError as exc:
        return ToolOutput(f"MCP server {server!r} refused the call: {exc}", is_error=True)
    text, is_error = render_result(result)
    return ToolOutput(text, is_error=is_error)
