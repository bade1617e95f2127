"""What an operator configures for one MCP server, and reading that from the environment.

Only the operator names servers: a :class:`MCPServer` comes from ``Router(mcp_servers=...)`` or
``COPASS_ROUTER_MCP_SERVERS``, never from a run request. Secrets (header values, a stdio
server's environment) are given as the names of environment variables, read when the router
connects, so a configuration can be logged, shown and stored without leaking them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from copass_router._errors import ConfigurationError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")

#: Where ``copass-router serve`` (and any ``Router()``) reads MCP servers: a JSON list of
#: server objects, or the path of a file holding one.
ENV_VAR = "COPASS_ROUTER_MCP_SERVERS"


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value or ())


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value or {}).items()}


@attrs.frozen(kw_only=True)
class MCPServer:
    """One MCP server the router connects to; its tools become router tools.

    Give ``command`` (a stdio server the router starts) or ``url`` (a streamable HTTP server).

    :param name: prefix of its tools' names (``name__tool``): two servers' ``search`` differ.
    :param command: the program of a stdio server; ``args`` its arguments, ``cwd`` its folder.
    :param env: plain environment variables for a stdio server.
    :param env_from_environ: the server's variable -> the router environment variable holding
        its value (for secrets: the value is read at connect time and never logged).
    :param url: a streamable HTTP server's endpoint.
    :param headers: plain HTTP headers; ``headers_from_environ``: header -> environment
        variable holding its value (``{"Authorization": "DOCS_MCP_AUTH"}``).
    :param tools: the server's tools to offer (names or ``fnmatch`` patterns); empty: all.
    :param require_approval: the server's tools (names or patterns, without the prefix) whose
        calls wait for approval; ``["*"]``: all of them.
    :param timeout: seconds one tool call may take.
    :param connect_timeout: seconds connecting and listing the tools may take.
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    cwd: str | None = None
    env: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    env_from_environ: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    url: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    headers_from_environ: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    tools: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    require_approval: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    timeout: float = 60.0
    connect_timeout: float = 20.0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"MCP server name {self.name!r} must be 1-32 letters, digits, _ or -, "
                "starting with a letter (it prefixes the tools' names)"
            )
        if (self.command is None) == (self.url is None):
            raise ConfigurationError(
                f"MCP server {self.name!r} needs exactly one of command= (stdio) or url= "
                "(streamable HTTP)"
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"MCP server {self.name!r}: url must start with http:// or https://"
            )
        for label, value in (("timeout", self.timeout), ("connect_timeout", self.connect_timeout)):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"MCP server {self.name!r}: {label} must be > 0 seconds")

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "stdio" if self.command is not None else "http"

    def secret_values(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The secrets this server reads from ``environ`` (header values and the stdio
        environment), by the variable that holds each; a missing one is an error."""
        wanted = {**self.headers_from_environ, **self.env_from_environ}
        missing = sorted({v for v in wanted.values() if not environ.get(v)})
        if missing:
            raise ConfigurationError(
                f"MCP server {self.name!r} reads {', '.join(missing)} from the environment, "
                "which is not set: set it before starting the router"
            )
        return {v: environ[v] for v in wanted.values()}


def server_from_dict(data: Mapping[str, Any]) -> MCPServer:
    """An :class:`MCPServer` from its JSON form (the keywords of its constructor)."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"an MCP server is a JSON object, not {type(data).__name__}")
    known = {f.name for f in attrs.fields(MCPServer)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown MCP server setting {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    try:
        return MCPServer(**data)
    except TypeError as exc:
        raise ConfigurationError(f"bad MCP server setting: {exc}") from None


def servers_from_environ(environ: Mapping[str, str]) -> list[MCPServer]:
    """The servers ``COPASS_ROUTER_MCP_SERVERS`` configures (a JSON list, or a file's path)."""
    raw = (environ.get(ENV_VAR) or "").strip()
    if not raw:
        return []
    if not raw.startswith("["):
        try:
            with open(os.path.expanduser(raw), encoding="utf-8") as file:
                raw = file.read()
        except OSError as exc:
            raise ConfigurationError(
                f"{ENV_VAR} is neither a JSON list nor a readable file: {exc.strerror}"
            ) from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_VAR} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ConfigurationError(f"{ENV_VAR} must hold a JSON list of MCP server objects")
    return [server_from_dict(item) for item in data]


def check_unique(servers: Sequence[MCPServer]) -> None:
    """Two servers with one name would give their tools one prefix."""
    seen: set[str] = set()
    for server in servers:
        if server.name in seen:
            raise ConfigurationError(f"two MCP servers are named {server.name!r}; rename one")
        seen.add(server.name)
