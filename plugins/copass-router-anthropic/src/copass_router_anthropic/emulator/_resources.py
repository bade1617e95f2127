"""The emulator's resources as the API returns them: agents, environments, sessions.

Each builder validates a create request the way the API does (400 ``invalid_request_error``)
and returns the resource with every field the SDK's models declare.
"""

from __future__ import annotations

import re
from typing import Any

from copass_router.testing import schema_problems

from ._state import ApiError, new_id, now_iso

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")


def invalid(message: str) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, "invalid_request_error", message)


def _stamps() -> dict[str, Any]:
    stamp = now_iso()
    return {"created_at": stamp, "updated_at": stamp, "archived_at": None}


def new_agent(spec: dict[str, Any]) -> dict[str, Any]:
    """An agent from a create request."""
    model = spec.get("model")
    named = model.get("id") if isinstance(model, dict) else model
    if not isinstance(named, str) or not named:
        raise invalid("model: required")
    if not spec.get("name"):
        raise invalid("name: required")
    tools = [agent_tool(t) for t in spec.get("tools") or []]
    if len(tools) > 256:
        raise invalid("tools: at most 256")
    return {
        "type": "agent",
        "id": new_id("agent"),
        "name": spec["name"],
        "description": spec.get("description"),
        "system": spec.get("system"),
        "model": model if isinstance(model, dict) else {"id": model, "speed": "standard"},
        "tools": tools,
        "mcp_servers": list(spec.get("mcp_servers") or []),
        "skills": list(spec.get("skills") or []),
        "metadata": dict(spec.get("metadata") or {}),
        "execution_identity": {"type": "service_account"},
        "multiagent": None,
        "version": 1,
        **_stamps(),
    }


def agent_tool(tool: Any) -> dict[str, Any]:
    """One entry of an agent's ``tools``, validated and with the API's defaults filled in."""
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise invalid("tools: each tool needs a type")
    if tool["type"] == "custom":
        if not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise invalid(f"tools: bad name {tool.get('name')!r}")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise invalid("tools: input_schema.type must be object")
        problems = schema_problems(schema, "json-schema")
        if problems:
            raise invalid(f"tools.{tool['name']}.input_schema: {problems[0]}")
        return {
            "type": "custom",
            "name": tool["name"],
            "description": tool.get("description", ""),
            "input_schema": schema,
        }
    if tool["type"] == "agent_toolset_20260401":
        default = {"enabled": True, "permission_policy": {"type": "always_allow"}}
        default.update(tool.get("default_config") or {})
        configs = list(tool.get("configs") or [])
        return {"type": tool["type"], "configs": configs, "default_config": default}
    return dict(tool)


def new_environment(spec: dict[str, Any]) -> dict[str, Any]:
    """An environment from a create request (cloud config defaults filled in)."""
    if not spec.get("name"):
        raise invalid("name: required")
    config = dict(spec.get("config") or {"type": "cloud"})
    if config.get("type") == "cloud":
        config.setdefault("networking", {"type": "unrestricted"})
        packages: dict[str, Any] = {k: [] for k in _PACKAGE_MANAGERS}
        config["packages"] = {"type": "packages", **packages, **(config.get("packages") or {})}
    return {
        "type": "environment",
        "id": new_id("env"),
        "name": spec["name"],
        "description": spec.get("description"),
        "config": config,
        "metadata": dict(spec.get("metadata") or {}),
        "scope": spec.get("scope") or "organization",
        **_stamps(),
    }


def new_session(spec: dict[str, Any], agent: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """A session of ``agent`` in ``env``; it keeps a snapshot of the agent as it is now."""
    for kind, resource in (("agent", agent), ("environment", env)):
        if resource["archived_at"]:
            raise invalid(f"{kind} {resource['id']!r} is archived")
    snapshot = {
        k: v for k, v in agent.items() if k not in ("created_at", "updated_at", "archived_at")
    }
    return {
        "type": "session",
        "id": new_id("sesn"),
        "agent": snapshot,
        "environment_id": env["id"],
        "status": "idle",
        "title": spec.get("title"),
        "metadata": dict(spec.get("metadata") or {}),
        "vault_ids": list(spec.get("vault_ids") or []),
        "resources": [],
        "outcome_evaluations": [],
        "stats": {"active_seconds": 0.0, "duration_seconds": 0.0},
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0},
        **_stamps(),
    }
