"""Value types shared by the router, its backends and the wire: requests, transcript, usage."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from copass_router.content._parts import Part, message_parts


class StopReason(enum.StrEnum):
    """Why a run ended. Every provider's own reasons map onto these."""

    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    REFUSAL = "refusal"
    TOOL_LIMIT = "tool_limit"
    BUDGET = "budget"
    CANCELLED = "cancelled"
    ERROR = "error"


class TurnStatus(enum.StrEnum):
    """Where a recorded turn stands. A turn whose process died stays ``running`` until its
    session lease expires; the store then marks it ``interrupted``."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@attrs.frozen
class TokenCounts:
    """Token counts. Adding two gives their sum, so a run's total is a fold of its reports.

    ``input_tokens`` excludes cached tokens: input + cache_read + cache_write is the whole prompt.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@attrs.frozen
class ToolSpec:
    """What a model is told about a tool: its name, purpose and JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}
    )


@attrs.frozen
class ToolCallRequest:
    """A model asking for one tool call. ``arguments`` is the decoded JSON object."""

    call_id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)


# --- the neutral transcript -------------------------------------------------------------------


@attrs.frozen
class UserItem:
    """What the user said."""

    text: str


@attrs.frozen
class AssistantItem:
    """A completed block of assistant text."""

    text: str


@attrs.frozen
class ToolCallItem:
    """A tool call the model made during a turn."""

    call_id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ToolResultItem:
    """The result that went back to the model for a tool call."""

    call_id: str
    name: str
    output: str
    is_error: bool = False


TranscriptItem = UserItem | AssistantItem | ToolCallItem | ToolResultItem


@attrs.frozen
class TranscriptTurn:
    """One turn of a session: the user's message and everything the turn produced.

    ``items`` holds, in order, what the assistant said and did. ``provider_data`` keeps
    provider-specific pieces (thinking signatures, native ids) keyed by provider name; they
    never travel to another provider.
    """

    index: int
    run_id: str
    provider: str
    model: str
    user: str
    items: tuple[TranscriptItem, ...] = ()
    status: TurnStatus = TurnStatus.RUNNING
    stop_reason: StopReason | None = None
    usage: TokenCounts = TokenCounts()
    provider_data: Mapping[str, Any] = attrs.field(factory=dict)
    #: The user's message as parts, when it was given as parts (``user`` is its text); images
    #: and files read back from the store carry their bytes once the router has loaded them.
    parts: tuple[Part, ...] = ()

    @property
    def text(self) -> str:
        """The assistant's text for this turn, blocks joined by blank lines."""
        return "\n\n".join(i.text for i in self.items if isinstance(i, AssistantItem))


@attrs.frozen
class SessionInfo:
    """A session as the store knows it."""

    session_id: str
    end_user_id: str
    turn_count: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0


@attrs.frozen
class Binding:
    """A router session's link to a provider's native session.

    ``synced_turns`` counts the transcript turns the native session has seen; a turn on this
    provider receives the turns after that as ``Turn.history``.
    """

    native_id: str
    synced_turns: int = 0
    data: Mapping[str, Any] = attrs.field(factory=dict)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _set_fields(value: Any) -> Any:
    # A field given as None is a field not given (as for every optional run field).
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    return value


def _stop_sequences(value: Any) -> Any:
    # One string is one stop sequence (not one per character); other shapes reach the check.
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list | tuple) else value


@attrs.frozen(kw_only=True)
class RunRequest:
    """Everything one turn needs. ``Router.run`` accepts this or the same fields as keywords.

    ``options`` carries provider-specific settings that have no field of their own; a backend
    rejects options it does not know.
    """

    provider: str
    model: str | None = None
    #: A string, or a sequence of parts (:class:`TextPart`, :class:`ImagePart`,
    #: :class:`FilePart`, or their dicts: ``{"type": "image", "media_type": ..., "data": ...}``).
    message: str | tuple[Part, ...] = attrs.field(converter=message_parts)
    system: str | None = None
    end_user_id: str = "local"
    session_id: str | None = attrs.field(default=None, converter=_optional_str)
    #: Fields only some providers use, declared by those providers (``RequestField``), each
    #: also accepted as a keyword of its own (``Router.run(name=value)``) and as a top-level
    #: field in hosted JSON. A field another installed provider declares is carried along
    #: (failover may need it); one no installed provider declares is refused.
    provider_fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_set_fields)
    tools: tuple[Any, ...] = attrs.field(default=(), converter=tuple)
    #: Narrows the run's tools to these names or ``fnmatch`` patterns (``"docs__*"``); None:
    #: every tool. A run can only narrow: MCP servers come from the operator's configuration.
    allowed_tools: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    #: Keep ``allowed_tools`` on the session: its later runs that pass no ``allowed_tools``
    #: are narrowed the same way (a run that passes them narrows again).
    keep_allowed_tools: bool = False
    max_tool_rounds: int = 8
    timeout: float | None = None
    #: Portable generation settings, honoured by every provider that declares them and refused
    #: by the others (see ``GenerationSettings``). ``stop``: one string or up to four.
    temperature: float | None = None
    max_output_tokens: int | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=_stop_sequences)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    #: Where the turn goes on if this provider fails: ``{"provider": ..., "model": ...,
    #: "options": ..., **provider_fields}`` each, tried in order
    #: (see ``FailoverPolicy``). Empty: the router's default policy decides.
    fallbacks: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class ChatMessage:
    """One message of a stateless chat conversation, in neutral form.

    ``role`` is ``system``, ``user``, ``assistant`` or ``tool``. An assistant message may carry
    ``tool_calls``; a ``tool`` message answers the call named by ``call_id``. A user message
    given as parts keeps them all, in order, in ``parts`` (``text`` is its text).
    """

    role: str
    text: str = ""
    tool_calls: tuple[ToolCallRequest, ...] = ()
    call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    parts: tuple[Part, ...] = ()
