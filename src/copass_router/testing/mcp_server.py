"""A small MCP server to try integrations with, and the one the test suite starts.

``python -m copass_router.testing.mcp_server`` serves it over stdio; ``... http PORT`` over
streamable HTTP on 127.0.0.1. Needs the ``mcp`` extra. Its tools: ``search``
(echoes the query), ``add`` (a schema with ``$ref``, ``anyOf`` and an enum), ``slow`` (sleeps),
``die`` (the process exits mid-call), ``fail`` (a tool error), ``picture`` (an image, audio,
text and binary resources and a resource link), ``grow`` (adds a tool and tells the client
its list changed).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel

server = MCPServer("copass-test")


class Point(BaseModel):
    x: int
    y: int


@server.tool()
def search(query: str) -> str:
    """Search the documents for a query."""
    return f"found: {query} (pid {os.getpid()})"


@server.tool()
def add(a: Point, b: Point, mode: Literal["sum", "diff"] = "sum", note: str | None = None) -> str:
    """Add or subtract two points."""
    sign = 1 if mode == "sum" else -1
    return f"({a.x + sign * b.x}, {a.y + sign * b.y}){' ' + note if note else ''}"


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def die() -> str:
    """Exit the server process in the middle of the call."""
    os._exit(3)


@server.tool()
def fail(reason: str) -> str:
    """Fail with a message the model should see."""
    raise ToolError(f"cannot: {reason}")


@server.tool()
def picture() -> list[ImageContent | AudioContent | EmbeddedResource | ResourceLink | TextContent]:
    """An image, a sound, a text and a binary resource, a resource link and a caption."""
    return [
        TextContent(type="text", text="a red dot"),
        ImageContent(type="image", data="iVBORw0KGgo=", mime_type="image/png"),
        AudioContent(type="audio", data="UklGRg==", mime_type="audio/wav"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="file:///notes.txt", mime_type="text/plain", text="n1"
            ),
        ),
        EmbeddedResource(
            type="resource",
            resource=BlobResourceContents(
                uri="file:///dot.pdf", mime_type="application/pdf", blob="JVBERi0x"
            ),
        ),
        ResourceLink(
            type="resource_link", uri="file:///big.csv", name="big.csv", mime_type="text/csv"
        ),
    ]


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool ``extra`` and announce the changed list."""

    def extra() -> str:
        """A tool that appeared later."""
        return "extra ran"

    server.add_tool(extra, name="extra")
    await ctx.session.send_tool_list_changed()  # notifications/tools/list_changed
    return "grown"


def main(argv: list[str]) -> None:
    """Serve over stdio (no arguments, or ``stdio``) or ``http PORT``."""
    if len(argv) >= 2 and argv[0] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        server.run("stdio")


if __name__ == "__main__":
    main(sys.argv[1:])
