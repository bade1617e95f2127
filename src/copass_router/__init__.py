"""copass-router: run an AI agent turn on any provider through one call and one event stream.

Everything public is importable from here (and test helpers from ``copass_router.testing``);
submodules are private. ``__all__`` is sorted by audience: applications, hosts (plugins and
deployments), provider authors. docs/api.md describes each name; a test keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import AgentBackend, BackendContext, ResourceCache, Turn
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
from .store import SessionStore, SQLiteStore, TurnStart
from .store.usage_sqlite import SQLiteUsageLedger
from .tools import Tool, ToolContext, ToolOutput, tool
from .usage import DEFAULT_TENANT, Spend, UsageEntry, UsageLedger, UsageRow

if TYPE_CHECKING:
    from .client import RemoteRouter, RemoteRouterError
    from .http_chat import ChatRequest, HttpChatBackend, Piece

from .types import (
    AssistantItem,
    Binding,
    ChatMessage,
    RunRequest,
    SessionInfo,
    StopReason,
    TokenCounts,
    ToolCallItem,
    ToolCallRequest,
    ToolResultItem,
    ToolSpec,
    TranscriptItem,
    TranscriptTurn,
    TurnStatus,
    UserItem,
)

__all__ = [  # noqa: RUF022 - sorted by audience (docs/api.md), not alphabetically
    # For applications: run turns, read events, handle errors, give tools, watch spend
    "Router",
    "RemoteRouter",
    "RemoteRouterError",
    "RunRequest",
    "RunResult",
    "RetryPolicy",
    "FailoverPolicy",
    "Fallback",
    "AVAILABILITY_CODES",
    "MID_TURN_CODES",
    "Budget",
    "Budgets",
    "UsageRow",
    "Spend",
    "ProviderInfo",
    "SessionInfo",
    "TranscriptTurn",
    "TranscriptItem",
    "UserItem",
    "AssistantItem",
    "ToolCallItem",
    "ToolResultItem",
    "TurnStatus",
    "StopReason",
    "TokenCounts",
    "tool",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "EventPrinter",
    "Event",
    "RunStarted",
    "TextDelta",
    "ThinkingDelta",
    "Message",
    "ThinkingMessage",
    "ToolCall",
    "ToolResult",
    "Usage",
    "Error",
    "Retry",
    "Failover",
    "ProviderEvent",
    "RunFinished",
    "UnknownEvent",
    "event_to_dict",
    "event_from_dict",
    "event_to_json",
    "event_from_json",
    "RouterError",
    "ConfigurationError",
    "InvalidRequestError",
    "PayloadTooLargeError",
    "UnknownProviderError",
    "SessionNotFoundError",
    "SessionBusyError",
    "ProviderError",
    "RateLimitError",
    "BudgetExceededError",
    "ToolError",
    "DispatchAuthError",
    "PluginLoadError",
    "InternalError",
    "ErrorCode",
    "ERROR_CODES",
    "CodeInfo",
    # For hosts: plugins, stores, prices, settings, logs
    "hookimpl",
    "hookspec",
    "BackendRegistrar",
    "ToolRegistrar",
    "StoreRegistrar",
    "CommandRegistrar",
    "EmulatorRegistrar",
    "PriceRegistrar",
    "PluginInfo",
    "SessionStore",
    "SQLiteStore",
    "TurnStart",
    "UsageLedger",
    "UsageEntry",
    "SQLiteUsageLedger",
    "DEFAULT_TENANT",
    "ModelPrice",
    "PriceBook",
    "env_int",
    "env_float",
    "env_flag",
    "get_logger",
    "scrub",
    # For provider authors: backends and what they receive
    "AgentBackend",
    "BackendContext",
    "Turn",
    "Binding",
    "ResourceCache",
    "HttpChatBackend",
    "ChatRequest",
    "Piece",
    "ChatMessage",
    "ModelStep",
    "ToolCallRequest",
    "ToolSpec",
    "run_chat_loop",
    "chat_messages",
    "transcript_messages",
    "code_for_status",
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
