"""Narrowing a run's tools: a run may keep a subset of the operator's tools, never add one."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from copass_router._errors import InvalidRequestError

if TYPE_CHECKING:
    from copass_router._types import RunRequest
    from copass_router.integrations.catalog import MCPCatalog
    from copass_router.tools._tools import ToolDispatcher

_NO_SERVERS = (
    "a run cannot add an MCP server or name a URL: the operator configures servers "
    "(Router(mcp_servers=...) or COPASS_ROUTER_MCP_SERVERS); a run may only narrow the tools "
    "with allowed_tools=[names or patterns]"
)


def check_allowed_tools(value: object) -> tuple[str, ...]:
    """``allowed_tools`` as a tuple of names/patterns, or :class:`InvalidRequestError`."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidRequestError(
            "allowed_tools must be a list of tool names or patterns (e.g. ['docs__*'])",
            field="allowed_tools",
        )
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidRequestError(
                "each of allowed_tools must be a non-empty string", field="allowed_tools"
            )
        if "://" in item or item.startswith(("/", "\\")):
            raise InvalidRequestError(_NO_SERVERS, field="allowed_tools")
    return tuple(value)


def refuse_servers() -> InvalidRequestError:
    """The error for a run that tries to bring its own MCP server."""
    return InvalidRequestError(_NO_SERVERS, field="mcp_servers")


def select_tools(names: Iterable[str], patterns: Sequence[str]) -> frozenset[str]:
    """The names among ``names`` that ``patterns`` keep. A pattern that keeps nothing is an
    error: a misspelt tool must not silently leave the model without it."""
    names = sorted(names)
    kept: set[str] = set()
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            known = ", ".join(names) or "none"
            raise InvalidRequestError(
                f"allowed_tools: {pattern!r} matches no tool of this run; its tools: {known}",
                field="allowed_tools",
            )
        kept.update(hits)
    return frozenset(kept)


async def run_dispatcher(
    base: ToolDispatcher, catalog: MCPCatalog | None, request: RunRequest
) -> ToolDispatcher:
    """A run's tools: ``base`` (registered), the MCP servers' and the run's own, narrowed to
    ``request.allowed_tools``."""
    from copass_router.tools._tools import as_tool

    dispatcher = base
    if catalog is not None:
        dispatcher = dispatcher.with_tools(await catalog.tools())
    dispatcher = dispatcher.with_tools(as_tool(t) for t in request.tools)
    if request.allowed_tools is not None:
        dispatcher = dispatcher.only(select_tools(dispatcher.names(), request.allowed_tools))
    return dispatcher
