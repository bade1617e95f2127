"""copass-router: run an AI agent turn on any provider through one call and one event stream.

Everything public is importable from here (and test helpers from ``copass_router.testing``);
submodules are private. ``__all__`` is sorted by audience: applications, hosts (plugins and
deployments), provider authors; docs/api.md describes each name and a test keeps the two in
step. Each name is imported from its submodule on first use (PEP 562), so a program, a plugin
or the command line pays only for what it touches: ``from copass_router import hookimpl`` does
not load asyncio or the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see: every public name, statically
    from copass_router._errors import (
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
        neutral_code,
    )
    from copass_router._events import (
        ApprovalRequested,
        ContextCompacted,
        Error,
        Event,
        Failover,
        Message,
        ProviderEvent,
        Retry,
        RunFinished,
        RunStarted,
        StructuredOutput,
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
    from copass_router._generation import GENERATION_FIELDS, GenerationSettings
    from copass_router._logs import get_logger, scrub
    from copass_router._request_fields import RequestField, RequestOption
    from copass_router._settings import env_flag, env_float, env_int
    from copass_router._types import (
        AssistantItem,
        Binding,
        ChatMessage,
        ReasoningItem,
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
    from copass_router.accounting._budgets import Budget, Budgets
    from copass_router.accounting._prices import ModelPrice, PriceBook
    from copass_router.accounting._usage import (
        DEFAULT_TENANT,
        Spend,
        UsageEntry,
        UsageLedger,
        UsageRow,
    )
    from copass_router.cli._render import EventPrinter
    from copass_router.client._problems import RemoteRouterError
    from copass_router.client._remote_router import RemoteRouter
    from copass_router.content._blobs import PartPolicy, PartQuotaError
    from copass_router.content._parts import FilePart, ImagePart, Part, TextPart
    from copass_router.content._support import (
        PartNotTakenError,
        PartsTooLargeError,
        PartSupport,
    )
    from copass_router.coordination import (
        Coordinator,
        CoordinatorUnavailableError,
        SigningKeys,
        StoreUnavailableError,
        open_coordinator,
    )
    from copass_router.integrations import MCPServer, normalise_schema
    from copass_router.plugin_host._hookspecs import event_types, hookimpl, hookspec
    from copass_router.plugin_host._plugins import PluginInfo, ProviderInfo
    from copass_router.plugin_host._registrars import (
        BackendRegistrar,
        CommandRegistrar,
        EmulatorRegistrar,
        PriceRegistrar,
        StoreRegistrar,
        ToolRegistrar,
    )
    from copass_router.provider_kit._backend import AgentBackend, BackendContext
    from copass_router.provider_kit._chat_loop import (
        ModelStep,
        chat_messages,
        run_chat_loop,
        transcript_messages,
    )
    from copass_router.provider_kit._history_block import history_block, split_history
    from copass_router.provider_kit._http_chat import ChatRequest, HttpChatBackend, Piece
    from copass_router.provider_kit._preparing import import_available, shared_tls_context
    from copass_router.provider_kit._provider_resources import (
        FINGERPRINT_METADATA,
        CreatePacer,
        ListedResource,
        ProviderResources,
        ResourceApi,
        config_fingerprint,
    )
    from copass_router.provider_kit._resource_cache import ResourceCache
    from copass_router.provider_kit._retries import PROVIDER_SDK_RETRIES, RetryPolicy
    from copass_router.provider_kit._server_sent import (
        JsonObject,
        sse_fields,
        sse_json,
        sse_reads,
    )
    from copass_router.provider_kit._stream_transport import event_stream_client
    from copass_router.provider_kit._tool_tasks import ToolTasks
    from copass_router.provider_kit._turn import Turn
    from copass_router.run._failover_policy import (
        AVAILABILITY_CODES,
        MID_TURN_CODES,
        FailoverPolicy,
        Fallback,
    )
    from copass_router.run._results import RunResult
    from copass_router.run._router import Router
    from copass_router.store import SessionStore, SQLiteStore, TurnStart
    from copass_router.store._usage_sqlite import SQLiteUsageLedger
    from copass_router.tools._approvals import ApprovalDecision, ApprovalRequest
    from copass_router.tools._tools import RunContext, Tool, ToolContext, ToolOutput, tool

__all__ = [  # noqa: RUF022 - sorted by audience (docs/api.md), not alphabetically
    "MCPServer",
    "ApprovalRequest",
    "ApprovalDecision",
    "ApprovalRequested",
    "normalise_schema",
    # For applications: run turns, read events, handle errors, give tools, watch spend
    "Router",
    "RemoteRouter",
    "RemoteRouterError",
    "RunRequest",
    "TextPart",
    "ImagePart",
    "FilePart",
    "Part",
    "PartNotTakenError",
    "PartsTooLargeError",
    "PartPolicy",
    "PartQuotaError",
    "RunResult",
    "PROVIDER_SDK_RETRIES",
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
    "ReasoningItem",
    "TurnStatus",
    "StopReason",
    "TokenCounts",
    "tool",
    "Tool",
    "ToolContext",
    "RunContext",
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
    "ContextCompacted",
    "StructuredOutput",
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
    "CoordinatorUnavailableError",
    "StoreUnavailableError",
    "ErrorCode",
    "ERROR_CODES",
    "CodeInfo",
    # For hosts: plugins, stores, coordination, prices, settings, logs
    "hookimpl",
    "hookspec",
    "event_types",
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
    "Coordinator",
    "open_coordinator",
    "SigningKeys",
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
    "import_available",
    "shared_tls_context",
    "event_stream_client",
    "JsonObject",
    "sse_fields",
    "sse_json",
    "sse_reads",
    "ToolTasks",
    "BackendContext",
    "Turn",
    "GenerationSettings",
    "GENERATION_FIELDS",
    "PartSupport",
    "RequestField",
    "RequestOption",
    "Binding",
    "ResourceCache",
    "ProviderResources",
    "ResourceApi",
    "ListedResource",
    "CreatePacer",
    "config_fingerprint",
    "FINGERPRINT_METADATA",
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
    "history_block",
    "split_history",
    "code_for_status",
    "neutral_code",
]


def __getattr__(name: str) -> Any:
    # ``_WHERE`` (in ``_exports``, read on first use): where each public name lives;
    # tests/test_public_api.py keeps it equal to ``__all__`` and to the imports above.
    where: dict[str, str] = importlib.import_module("copass_router._exports").WHERE
    if name == "_WHERE":
        globals()[name] = where
        return where
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
