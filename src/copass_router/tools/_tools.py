"""Tools: how they are declared, and the one dispatcher every tool call goes through."""

from __future__ import annotations

import asyncio
import inspect
import json
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from copass_router._events import ApprovalRequested, Event, ToolCall, ToolResult
from copass_router._types import ToolCallRequest, ToolSpec
from copass_router.tools._approvals import ApprovalRequest, Approvals
from copass_router.tools._worker_threads import ToolThreads

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


@attrs.frozen
class RunContext:
    """The run a tool call or an event belongs to. Event middleware and dispatch hooks receive
    it as ``context``; a tool function receives it if it has a ``tool_context`` parameter."""

    run_id: str
    session_id: str
    end_user_id: str
    provider: str
    model: str = ""
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    #: W3C trace context (``traceparent``, optionally ``tracestate``) the run's provider
    #: requests carry, so work a provider does for the run (a deployed agent's tool callback)
    #: joins the run's trace. Empty unless a tracer plugin's event middleware fills it when it
    #: sees ``RunStarted`` (before the backend starts the turn); backends read it as
    #: :attr:`Turn.trace_context`. Trace ids only: it leaves the router, so nothing secret.
    trace_context: dict[str, str] = attrs.field(factory=dict, kw_only=True)


#: The name tools and dispatch hooks know :class:`RunContext` by: the same class, so code that
#: annotates a parameter with either name is typed alike.
ToolContext = RunContext


@attrs.frozen
class ToolOutput:
    """What a dispatch hook returns for a call it handled, or a tool function returns to
    mark its result as an error the model sees (``is_error=True``)."""

    output: Any
    is_error: bool = False


@attrs.frozen
class Tool:
    """A tool the router can run: what the model is told (``spec``) and the function to call."""

    spec: ToolSpec
    function: Callable[..., Any]
    timeout: float | None = None
    #: Calls wait for a decision (``Router.approve``/``deny`` or the approval handler).
    requires_approval: bool = False
    #: Whether the function takes a ``tool_context`` argument (read once: the function is fixed).
    wants_context: bool = attrs.field(init=False, eq=False, repr=False)
    #: Whether the function is a coroutine function (awaited) or sync (run on a worker thread).
    is_async: bool = attrs.field(init=False, eq=False, repr=False)

    @wants_context.default
    def _wants_context(self) -> bool:
        return "tool_context" in inspect.signature(self.function).parameters

    @is_async.default
    def _is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    @property
    def name(self) -> str:
        """The tool's name as the model sees it."""
        return self.spec.name


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(args[0]) if len(args) == 1 else {}
    kind = _JSON_TYPES.get(origin or annotation)
    return {"type": kind} if kind else {}


def _schema_from_signature(function: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(function)
    properties: dict[str, Any] = {}
    required = []
    for name, param in inspect.signature(function).parameters.items():
        if name == "tool_context" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        properties[name] = _json_type(hints.get(name, Any))
        if param.default is param.empty:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
) -> Any:
    """Make a :class:`Tool` from a function (sync or async); usable bare or with arguments.

    The JSON schema comes from the signature's type hints unless ``parameters`` is given; the
    description defaults to the docstring's first paragraph. ``requires_approval``: each call
    waits for a decision before it runs (see docs/integrations.md).
    """

    def build(fn: Callable[..., Any]) -> Tool:
        doc = inspect.getdoc(fn) or ""
        spec = ToolSpec(
            name=name or fn.__name__,
            description=description if description is not None else doc.split("\n\n")[0],
            parameters=dict(parameters) if parameters is not None else _schema_from_signature(fn),
        )
        return Tool(spec=spec, function=fn, timeout=timeout, requires_approval=requires_approval)

    return build(function) if function is not None else build


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """Accept a Tool or a plain function."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        built: Tool = tool(value)
        return built
    raise TypeError(f"not a tool: {value!r}; pass a function or a copass_router.Tool")


#: Longest tool output passed back to the model, in characters: a bigger one is an error result
#: (it would fill the model's context and the router's memory on every later turn).
MAX_OUTPUT_CHARS = 1_000_000

#: Where sync tools run: off the event loop, on threads shared by every router in the process.
_SYNC_TOOLS = ToolThreads()


def _encode_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _describe(exc: BaseException) -> str:
    """``Type: message``, even for an exception whose ``__str__`` itself fails."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


class _Validators:
    """The tools' argument checks, on the shared compiled validators (_schema_validators)."""

    def errors(self, tool: Tool, arguments: Any) -> list[str]:
        from copass_router._schema_validators import validator

        return [
            f"{'/'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}"
            for e in validator(tool.spec.parameters).iter_errors(arguments)
        ]


class ToolDispatcher:
    """Runs tool calls: dispatch hook first, then the registered tool, always a result."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        hook: Callable[..., Any] | None = None,
        default_timeout: float = 60.0,
        approvals: Approvals | None = None,
    ) -> None:
        self._tools = dict(tools)
        self._hook = hook
        self._default_timeout = default_timeout
        self._approvals = approvals
        self._validators = _Validators()
        self._narrowed = False

    @property
    def approvals(self) -> Approvals | None:
        """The approval policy calls of this dispatcher wait on."""
        return self._approvals

    def with_tools(self, extra: Iterable[Tool]) -> ToolDispatcher:
        """A dispatcher that also knows ``extra`` (per-run tools win over registered ones)."""
        extra = list(extra)
        if not extra:
            return self
        clone = ToolDispatcher(self._tools, self._hook, self._default_timeout, self._approvals)
        clone._tools.update({t.name: t for t in extra})
        clone._validators = self._validators
        clone._narrowed = self._narrowed
        return clone

    def only(self, names: Iterable[str]) -> ToolDispatcher:
        """A dispatcher that offers and runs only ``names`` (a run's narrowed tool set): a
        call to any other name is refused before any dispatch hook sees it."""
        keep = set(names)
        kept = {n: t for n, t in self._tools.items() if n in keep}
        clone = ToolDispatcher(kept, self._hook, self._default_timeout, self._approvals)
        clone._validators = self._validators
        clone._narrowed = True
        return clone

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """What every model of a run is told about the tools."""
        return tuple(t.spec for t in self._tools.values())

    def names(self) -> frozenset[str]:
        """The names of the tools this dispatcher can run."""
        return frozenset(self._tools)

    async def run(
        self, calls: Sequence[ToolCallRequest], context: ToolContext
    ) -> AsyncIterator[Event]:
        """Yield a ToolCall per call, then a ToolResult per call as each finishes."""
        for call in calls:
            arguments = dict(call.arguments) if isinstance(call.arguments, Mapping) else {}
            yield ToolCall(call_id=call.call_id, name=call.name, arguments=arguments)
        if self._approvals is not None and any(self._gated(c) for c in calls):
            approved: list[ToolCallRequest] = []
            async for event in self._approve(calls, context, approved):
                yield event
            calls = approved
            if not calls:
                return
        if len(calls) == 1:  # one call: awaited here, no task of its own to create and wake
            yield await self.call(calls[0], context)
            return
        tasks = [asyncio.ensure_future(self.call(c, context)) for c in calls]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for t in tasks:
                t.cancel()

    def _gated(self, call: ToolCallRequest) -> bool:
        assert self._approvals is not None
        tool = self._tools.get(call.name)
        return self._approvals.required(call.name, tool is not None and tool.requires_approval)

    async def _approve(
        self,
        calls: Sequence[ToolCallRequest],
        context: ToolContext,
        approved: list[ToolCallRequest],
    ) -> AsyncIterator[Event]:
        """Ask for the gated calls' decisions (all at once), fill ``approved`` with the calls
        to run, and yield the denied calls' results."""
        approvals = self._approvals
        assert approvals is not None
        asks: dict[str, ApprovalRequest] = {}
        for call in calls:
            if not self._gated(call):
                continue
            arguments = dict(call.arguments) if isinstance(call.arguments, Mapping) else {}
            asks[call.call_id] = ask = ApprovalRequest(
                context.run_id, context.session_id, context.end_user_id, context.provider,
                call.call_id, call.name, arguments,
            )  # fmt: skip
            approvals.open(ask)
            yield ApprovalRequested(
                call_id=call.call_id, name=call.name, arguments=arguments,
                timeout=approvals.timeout,
            )  # fmt: skip
        decisions = await asyncio.gather(*(approvals.wait(a) for a in asks.values()))
        verdicts = dict(zip(asks, decisions, strict=True))
        for call in calls:
            decision = verdicts.get(call.call_id)
            if decision is None or decision.approved:
                approved.append(call)
                continue
            why = f": {decision.reason}" if decision.reason else ""
            yield ToolResult(
                call_id=call.call_id,
                name=call.name,
                output=f"not run: the call to {call.name!r} was denied{why}",
                is_error=True,
            )

    async def call(self, call: ToolCallRequest, context: ToolContext) -> ToolResult:
        """Run one call and return its result; failures become ``is_error`` results."""
        task = asyncio.current_task()
        try:
            output, is_error = await self._call(call, context)
        except asyncio.CancelledError:
            if task is not None and task.cancelling():
                raise  # the run is being cancelled
            output, is_error = f"tool {call.name!r} failed: it raised CancelledError", True
        except Exception as exc:
            output, is_error = f"tool {call.name!r} failed: {_describe(exc)}", True
        try:
            text = _encode_output(output)
        except (TypeError, ValueError, RecursionError):  # RecursionError: nested too deep
            kind = type(output).__name__
            text, is_error = f"tool {call.name!r} returned a {kind}, which is not JSON", True
        if len(text) > MAX_OUTPUT_CHARS:
            text, is_error = (
                f"tool {call.name!r} returned {len(text)} characters; the limit is "
                f"{MAX_OUTPUT_CHARS}: return less (a summary, or one page at a time)",
                True,
            )
        return ToolResult(call_id=call.call_id, name=call.name, output=text, is_error=is_error)

    async def _call(self, call: ToolCallRequest, context: ToolContext) -> tuple[Any, bool]:
        if self._narrowed and call.name not in self._tools:
            known = ", ".join(sorted(self._tools)) or "none"
            return f"tool {call.name!r} is not allowed in this run; allowed: {known}", True
        if self._hook is not None:
            handled = self._hook(call=call, context=context)
            if inspect.isawaitable(handled):
                handled = await handled
            if handled is not None:
                if isinstance(handled, ToolOutput):
                    return handled.output, handled.is_error
                return handled, False
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return f"unknown tool {call.name!r}; available tools: {known}", True
        if not isinstance(call.arguments, Mapping):
            kind = type(call.arguments).__name__
            return f"arguments for {call.name!r} must be a JSON object, not {kind}", True
        problems = self._validators.errors(tool, dict(call.arguments))
        if problems:
            return f"invalid arguments for {call.name!r}: " + "; ".join(problems), True
        timeout = tool.timeout if tool.timeout is not None else self._default_timeout
        kwargs = dict(call.arguments)
        if tool.wants_context:
            kwargs["tool_context"] = context
        try:
            # asyncio.timeout, not wait_for: the call already runs in a task of its own. A sync
            # tool runs on a worker thread: on the loop it would stall every other run, and a
            # sync function cannot be bounded once it runs (on timeout its thread is abandoned).
            async with asyncio.timeout(timeout):
                if tool.is_async:
                    result = await tool.function(**kwargs)
                else:
                    result = await _SYNC_TOOLS.run(tool.function, **kwargs)
        except TimeoutError:
            return f"tool {call.name!r} timed out after {timeout:g} s", True
        if isinstance(result, ToolOutput):  # a tool that says its own result is an error
            return result.output, result.is_error
        return result, False
