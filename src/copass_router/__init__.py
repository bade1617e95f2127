"""copass-router: run an AI agent turn on any provider through one call and one event stream.

Everything public is importable from here; submodules are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import COMMON_FIELDS, AgentBackend, BackendContext, ResourceCache, Turn
from .chat_loop import ModelStep, chat_messages, run_chat_loop, transcript_messages
from .coordination import (
    Coordinator,
    CoordinatorUnavailableError,
    SigningKeys,
    StoreUnavailableError,
    open_coordinator,
)
from .errors import (
    ERROR_CODES,
    CodeInfo,
    ConfigurationError,
    DispatchAuthError,
    ErrorCode,
    InternalError,
    InvalidRequestError,
    PayloadTooLargeError,
    PluginLoadError,
    ProviderError,
    RateLimitError,
    RouterError,
    SessionBusyError,
    SessionNotFoundError,
    ToolError,
    UnknownProviderError,
    code_for_status,
)
from .events import (
    Error,
    Event,
    Message,
    ProviderEvent,
    Retry,
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
from .registrars import (
    BackendRegistrar,
    CommandRegistrar,
    EmulatorRegistrar,
    StoreRegistrar,
    ToolRegistrar,
)
from .render import EventPrinter
from .results import RunResult
from .retries import RetryPolicy
from .router import ProviderInfo, Router
from .settings import env_flag, env_float, env_int
from .store import SessionStore, SQLiteStore, TurnStart
from .tools import Tool, ToolContext, ToolOutput, tool

if TYPE_CHECKING:
    from .client import RemoteRouter, RemoteRouterError
    from .http_chat import ChatRequest, HttpChatBackend, Piece

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
    "ERROR_CODES",
    "AgentBackend",
    "AssistantText",
    "BackendContext",
    "BackendRegistrar",
    "Binding",
    "ChatMessage",
    "ChatRequest",
    "CodeInfo",
    "CommandRegistrar",
    "ConfigurationError",
    "Coordinator",
    "CoordinatorUnavailableError",
    "DispatchAuthError",
    "EmulatorRegistrar",
    "Error",
    "ErrorCode",
    "Event",
    "EventPrinter",
    "HttpChatBackend",
    "InternalError",
    "InvalidRequestError",
    "Message",
    "ModelStep",
    "PayloadTooLargeError",
    "Piece",
    "PluginInfo",
    "PluginLoadError",
    "ProviderError",
    "ProviderEvent",
    "ProviderInfo",
    "RateLimitError",
    "RemoteRouter",
    "RemoteRouterError",
    "ResourceCache",
    "Retry",
    "RetryPolicy",
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
    "SigningKeys",
    "StopReason",
    "StoreRegistrar",
    "StoreUnavailableError",
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
    "ToolRegistrar",
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
    "code_for_status",
    "env_flag",
    "env_float",
    "env_int",
    "event_from_dict",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "get_logger",
    "hookimpl",
    "hookspec",
    "open_coordinator",
    "run_chat_loop",
    "scrub",
    "tool",
    "transcript_messages",
]


def __getattr__(name: str) -> Any:
    # The hosted-mode client and the HTTP chat backend import httpx: load them when asked for.
    if name in ("RemoteRouter", "RemoteRouterError"):
        from . import client

        return getattr(client, name)
    if name in ("ChatRequest", "HttpChatBackend", "Piece"):
        from . import http_chat

        return getattr(http_chat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
