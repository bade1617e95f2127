"""What a translated stream event asks the turn driver to do, besides showing events: answer
a custom tool call, or decide a permission the agent asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from copass_router import ToolCallRequest

__all__ = ["Action", "Confirm", "ToolUse"]


@attrs.frozen
class ToolUse:
    """The agent called a custom tool: run it in the router and send the result back.

    ``round_id`` names the model request that made the call (tool rounds are counted by it).
    """

    call: ToolCallRequest
    round_id: str


@attrs.frozen
class Confirm:
    """A built-in or MCP tool call waits for permission (``evaluated_permission: ask``)."""

    tool_use_id: str
    name: str
    arguments: Mapping[str, Any]
    mcp_server: str | None = None


Action = ToolUse | Confirm
