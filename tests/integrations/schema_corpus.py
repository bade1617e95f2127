"""Tool schemas as MCP servers publish them: shapes of the MCP reference servers' tools
(filesystem, fetch, memory, git, time), and the hard cases providers disagree on."""

from __future__ import annotations

from typing import Any

_PATH = {"type": "string", "description": "A path"}

CORPUS: dict[str, dict[str, Any]] = {
    "read_text_file": {
        "type": "object",
        "properties": {
            "path": _PATH,
            "tail": {"type": "number", "description": "Only the last N lines"},
            "head": {"type": "number"},
        },
        "required": ["path"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    },
    "edit_file": {
        "type": "object",
        "properties": {
            "path": _PATH,
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"oldText": {"type": "string"}, "newText": {"type": "string"}},
                    "required": ["oldText", "newText"],
                    "additionalProperties": False,
                },
            },
            "dryRun": {"type": "boolean", "default": False},
        },
        "required": ["path", "edits"],
    },
    "fetch": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri", "minLength": 1},
            "max_length": {
                "type": "integer",
                "default": 5000,
                "exclusiveMaximum": 1000000,
                "exclusiveMinimum": 0,
            },
            "raw": {"type": "boolean", "default": False},
        },
        "required": ["url"],
        "title": "Fetch",
    },
    "create_entities": {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "entityType": {"type": "string"},
                        "observations": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["name", "entityType", "observations"],
                },
            }
        },
        "required": ["entities"],
    },
    "git_log": {
        "type": "object",
        "properties": {
            "repo_path": {"title": "Repo Path", "type": "string"},
            "max_count": {"default": 10, "title": "Max Count", "type": "integer"},
            "start_timestamp": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["repo_path"],
        "title": "GitLog",
    },
    "convert_time": {
        "type": "object",
        "properties": {
            "source_timezone": {"type": "string"},
            "time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
            "target_timezone": {"type": "string"},
        },
        "required": ["source_timezone", "time", "target_timezone"],
    },
    # pydantic models as MCP SDK servers publish them: $defs and $ref
    "add_points": {
        "$defs": {
            "Point": {
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
                "type": "object",
                "title": "Point",
            }
        },
        "properties": {
            "a": {"$ref": "#/$defs/Point"},
            "b": {"$ref": "#/$defs/Point", "description": "The second point"},
            "mode": {"enum": ["sum", "diff"], "type": "string", "default": "sum"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["a", "b"],
        "type": "object",
    },
    "nullable_types": {
        "type": "object",
        "properties": {
            "limit": {"type": ["integer", "null"]},
            "tags": {"type": "array", "items": {"type": ["string", "null"]}},
            "kind": {"const": "search"},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "anything": {},
        },
    },
    "open_map": {
        "type": "object",
        "properties": {
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "payload": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {}}]},
        },
        "additionalProperties": False,
    },
    "top_level_any_of": {
        "anyOf": [
            {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
        ]
    },
    "recursive": {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
    },
    "no_type": {"properties": {"q": {"type": "string"}}},
}
