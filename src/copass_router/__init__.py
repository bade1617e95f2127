"""copass-router: run an AI agent turn on any provider through one call and one event stream.

Everything public is importable from here; submodules are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import COMMON_FIELDS, AgentBackend, BackendContext, ResourceCache, Turn
from .chat_loop import ModelStep, chat_messages, run_chat_loop, transcript_messages
from .errors import (
    ConfigurationError,
    DispatchAuthError,
    InvalidRequestError,
    PayloadTooLargeError,
    PluginLoadError,
    ProviderError,
    RouterError,
    SessionBusyError,
    SessionNotFoundError,
    ToolError,
    UnknownProviderError,
)
from .events import (
    Error,
    Event,
    Message,
    ProviderEvent,
    RunFinished,
    RunStarted,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    ToolCall,
    ToolResult,
    UnknownEvent,
    Usage,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
)
from .hookspecs import hookimpl, hookspec
from .logs import get_logger, scrub
from .plugins import PluginInfo
from .render import EventPrinter
from .results import RunResult
from .router import ProviderInfo, Router
from .store import SessionStore, SQLiteStore, TurnStart
from .tools import Tool, ToolContext, ToolOutput, tool

if TYPE_CHECKING:
    from .client import RemoteRouter, RemoteRouterError

from .types import (
    AssistantText,
    Binding,
    ChatMessage,
    RunRequest,
    SessionInfo,
    StopReason,
    TokenUsage,
    ToolCallItem,
    ToolCallRequest,
    ToolResultItem,
    ToolSpec,
    TranscriptItem,
    TranscriptTurn,
    TurnStatus,
    UserText,
)

__all__ = [
    "COMMON_FIELDS",
    "AgentBackend",
    "AssistantText",
    "BackendContext",
    "Binding",
    "ChatMessage",
    "ConfigurationError",
    "DispatchAuthError",
    "Error",
    "Event",
    "EventPrinter",
    "InvalidRequestError",
    "Message",
    "ModelStep",
    "PayloadTooLargeError",
    "PluginInfo",
    "PluginLoadError",
    "ProviderError",
    "ProviderEvent",
    "ProviderInfo",
    "RemoteRouter",
    "RemoteRouterError",
    "ResourceCache",
    "Router",
    "RouterError",
    "RunFinished",
    "RunRequest",
    "RunResult",
    "RunStarted",
    "SQLiteStore",
    "SessionBusyError",
    "SessionInfo",
    "SessionNotFoundError",
    "SessionStore",
    "StopReason",
    "TextDelta",
    "ThinkingDelta",
    "ThinkingMessage",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolCallItem",
    "ToolCallRequest",
    "ToolContext",
    "ToolError",
    "ToolOutput",
    "ToolResult",
    "ToolResultItem",
    "ToolSpec",
    "TranscriptItem",
    "TranscriptTurn",
    "Turn",
    "TurnStart",
    "TurnStatus",
    "UnknownEvent",
    "UnknownProviderError",
    "Usage",
    "UserText",
    "chat_messages",
    "event_from_dict",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "get_logger",
    "hookimpl",
    "hookspec",
    "run_chat_loop",
    "scrub",
    "tool",
    "transcript_messages",
]


def __getattr__(name: str) -> Any:
    # The hosted-mode client imports httpx: load it only when someone asks for it.
    if name in ("RemoteRouter", "RemoteRouterError"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
