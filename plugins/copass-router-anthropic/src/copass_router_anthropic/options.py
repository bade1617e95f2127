"""What a run may ask of the anthropic backend (its options) and what the operator sets, and
the checks that keep a run inside the operator's policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copass_router import ConfigurationError, InvalidRequestError, RequestOption

from .turn_driver import PermissionPolicy, ToolPermission

#: The options a run may set; built-in and MCP tool calls stay under the operator's policy.
OPTIONS: Mapping[str, RequestOption] = {
    "agent_toolset": RequestOption(
        (bool, dict),
        help="Anthropic's built-in agent tools: true, or the toolset's configuration",
        operator="each built-in tool call is decided by the tool permission policy",
    ),
    "mcp_servers": RequestOption(
        (list, tuple),
        help="MCP connector servers for the agent, by name",
        operator="only servers the operator configured (settings mcp_servers)",
    ),
    "environment": RequestOption(
        dict, help="the cloud environment's configuration (networking, packages)"
    ),
    "tool_permission": RequestOption(
        str,
        help="allow or deny the built-in and MCP tool calls that ask for permission",
        operator="may only tighten COPASS_ANTHROPIC_TOOL_PERMISSION or permission_policy",
    ),
}


def fixed_policy(verdict: str) -> PermissionPolicy:
    def policy(_request: ToolPermission) -> bool:
        return verdict == "allow"

    return policy


def check_options(
    options: Mapping[str, Any], servers: Mapping[str, Any], *, allows_all: bool
) -> None:
    """Refuse options a run may not set: a tool permission looser than the operator's, an MCP
    connector server the operator did not configure."""
    permission = options.get("tool_permission")
    if permission not in (None, "allow", "deny"):
        raise InvalidRequestError("tool_permission must be 'allow' or 'deny'", field="options")
    if permission == "allow" and not allows_all:
        raise InvalidRequestError(
            "tool_permission 'allow' would loosen the operator's tool permission policy "
            "(COPASS_ANTHROPIC_TOOL_PERMISSION or permission_policy); a run may only "
            "ask for 'deny'",
            field="options.tool_permission",
        )
    for server in options.get("mcp_servers") or ():
        if not isinstance(server, str):
            raise InvalidRequestError(_REQUEST_SERVERS, field="options")
        if server not in servers:
            known = ", ".join(sorted(servers)) or "none"
            raise InvalidRequestError(
                f"mcp_servers: {server!r} is not an MCP connector server the operator "
                f"configured; configured: {known}",
                field="options",
            )


MISSING_KEY = (
    "ANTHROPIC_API_KEY is not set: the anthropic provider needs an API key from "
    "https://console.anthropic.com (or set ANTHROPIC_BASE_URL to an emulator, e.g. "
    "`copass-router emulate anthropic`, with any key)"
)


_REQUEST_SERVERS = (
    "options.mcp_servers lists names of MCP connector servers the operator configured "
    "(provider_settings={'anthropic': {'mcp_servers': [{'name': ..., 'url': ...}]}}); a run "
    "cannot give a server or a URL. Router tools from MCP servers: Router(mcp_servers=...)"
)


def connector_servers(value: Any) -> dict[str, Mapping[str, Any]]:
    servers: dict[str, Mapping[str, Any]] = {}
    for server in value or ():
        if not isinstance(server, Mapping) or not server.get("name") or not server.get("url"):
            raise ConfigurationError("each anthropic mcp_servers setting needs a name and a url")
        servers[str(server["name"])] = {"type": "url", **server}
    return servers
