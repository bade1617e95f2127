"""copass-router: run an AI agent turn on any provider through one call and one event stream.

Everything public is importable from here; submodules are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import COMMON_FIELDS, AgentBackend, BackendContext, ResourceCache, Turn
from .budgets import Budget, Budgets
from .chat_loop import ModelStep, chat_messages, run_chat_loop, transcript_messages
from .errors import (
    ERROR_CODES,
    BudgetExceededError,
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
    Failover,
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
from .failover import AVAILABILITY_CODES, MID_TURN_CODES, FailoverPolicy, Fallback
from .hookspecs import hookimpl, hookspec
from .logs import get_logger, scrub
from .plugins import PluginInfo
from .prices import ModelPrice, PriceBook
from .registrars import (
    BackendRegistrar,
    CommandRegistrar,
    EmulatorRegistrar,
    PriceRegistrar,
    StoreRegistrar,
    ToolRegistrar,
)
from .render import EventPrinter
from .results import RunResult
from .retries import RetryPolicy
from .router import ProviderInfo, Router
from .settings import env_flag, env_float, env_int
from .store import SessionStore, SQLiteStore
from .store.usage_sqlite import SQLiteUsageLedger
from .tools import Tool, ToolContext, ToolOutput, tool
from .usage import DEFAULT_TENANT, Spend, UsageEntry, UsageLedger, UsageRow

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
    "AVAILABILITY_CODES",
    "COMMON_FIELDS",
    "DEFAULT_TENANT",
    "ERROR_CODES",
    "MID_TURN_CODES",
    "AgentBackend",
    "AssistantText",
    "BackendContext",
    "BackendRegistrar",
    "Binding",
    "Budget",
    "BudgetExceededError",
    "Budgets",
    "ChatMessage",
    "CodeInfo",
    "CommandRegistrar",
    "ConfigurationError",
    "DispatchAuthError",
    "EmulatorRegistrar",
    "Error",
    "ErrorCode",
    "Event",
    "EventPrinter",
    "Failover",
    "FailoverPolicy",
    "Fallback",
    "InternalError",
    "InvalidRequestError",
    "Message",
    "ModelPrice",
    "ModelStep",
    "PayloadTooLargeError",
    "PluginInfo",
    "PluginLoadError",
    "PriceBook",
    "PriceRegistrar",
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
    "SQLiteUsageLedger",
    "SessionBusyError",
    "SessionInfo",
    "SessionNotFoundError",
    "SessionStore",
    "Spend",
    "StopReason",
    "StoreRegistrar",
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
    "TurnStatus",
    "UnknownEvent",
    "UnknownProviderError",
    "Usage",
    "UsageEntry",
    "UsageLedger",
    "UsageRow",
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
