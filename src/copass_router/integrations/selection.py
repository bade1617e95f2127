"""Narrowing a run's tools: a run may keep a subset of the operator's tools, never add one.

A run's ``allowed_tools`` narrow that run; with ``keep_allowed_tools`` they are also kept on
the session (as a binding of its own, deleted with the session), and the session's later runs
that pass no ``allowed_tools`` are narrowed the same way. The kept patterns are matched afresh
each run: a tool that appears later and matches is offered, and one that is gone (its server
unreachable) is simply not there.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from copass_router._errors import InvalidRequestError
from copass_router._types import Binding

if TYPE_CHECKING:
    from copass_router._types import RunRequest
    from copass_router.integrations.catalog import MCPCatalog
    from copass_router.store import SessionStore
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


#: The binding a session's kept narrowing is stored under (no provider has this name).
KEPT = "@allowed_tools"


def check_selection(request: RunRequest) -> None:
    """``allowed_tools`` and ``keep_allowed_tools`` as a run may give them, or
    :class:`InvalidRequestError`."""
    if request.allowed_tools is not None:
        check_allowed_tools(request.allowed_tools)
    if not isinstance(request.keep_allowed_tools, bool):
        raise InvalidRequestError(
            "keep_allowed_tools must be true or false", field="keep_allowed_tools"
        )
    if request.keep_allowed_tools and request.allowed_tools is None:
        raise InvalidRequestError(
            "keep_allowed_tools keeps the run's allowed_tools on its session: pass "
            "allowed_tools too (['*'] keeps every tool)",
            field="keep_allowed_tools",
        )


async def kept_selection(store: SessionStore, request: RunRequest) -> tuple[str, ...] | None:
    """The narrowing ``request``'s session keeps, when the run gives none of its own."""
    if request.allowed_tools is not None or request.session_id is None:
        return None
    binding = await store.get_binding(request.session_id, KEPT)
    # Another end user's session: nothing here (the store refuses the turn itself).
    if binding is None or binding.native_id != request.end_user_id:
        return None
    patterns = binding.data.get("allowed_tools")
    return tuple(str(p) for p in patterns) if isinstance(patterns, list) else None


async def keep_selection(store: SessionStore, session_id: str, request: RunRequest) -> None:
    """Keep ``request``'s narrowing on the session, when it asks to."""
    if request.keep_allowed_tools and request.allowed_tools is not None:
        data = {"allowed_tools": list(request.allowed_tools)}
        await store.put_binding(session_id, KEPT, Binding(request.end_user_id, 0, data))


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
    base: ToolDispatcher,
    catalog: MCPCatalog | None,
    request: RunRequest,
    kept: Sequence[str] | None = None,
) -> ToolDispatcher:
    """A run's tools: ``base`` (registered), the MCP servers' and the run's own, narrowed to
    ``request.allowed_tools``, else to the session's ``kept`` narrowing."""
    from copass_router.tools._tools import as_tool

    dispatcher = base
    if catalog is not None:
        dispatcher = dispatcher.with_tools(await catalog.tools())
    dispatcher = dispatcher.with_tools(as_tool(t) for t in request.tools)
    if request.allowed_tools is not None:
        dispatcher = dispatcher.only(select_tools(dispatcher.names(), request.allowed_tools))
    elif kept is not None:
        names = dispatcher.names()
        dispatcher = dispatcher.only(
            n for n in names if any(fnmatch.fnmatchcase(n, p) for p in kept)
        )
    return dispatcher
