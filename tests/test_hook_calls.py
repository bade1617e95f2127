"""How the router calls hooks: in one order, every implementation getting its turn."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from pathlib import Path

import attrs

from copass_router import (
    BackendRegistrar,
    Event,
    Router,
    RunContext,
    TextDelta,
    ToolCallRequest,
    ToolContext,
    ToolOutput,
    ToolResult,
    hookimpl,
    tool,
)
from copass_router.plugin_host import _hookspecs as hookspecs
from copass_router.plugin_host._hook_calls import HOOK_CALLS
from copass_router.plugin_host._hook_checks import HOOKS


def _forbidden() -> str:
    return "the account is gone"


async def _results(router: Router, message: str) -> list[ToolResult]:
    events = [e async for e in router.run(provider="echo", message=message)]
    return [e for e in events if isinstance(e, ToolResult)]


async def test_an_async_pass_through_does_not_skip_a_sync_policy_gate(
    make_router: Callable[..., Router],
) -> None:
    gate_calls: list[str] = []
    passed_through: list[str] = []

    class PolicyGate:
        @hookimpl
        def copass_router_dispatch_tool(self, call: ToolCallRequest) -> ToolOutput | None:
            gate_calls.append(call.name)
            if call.name == "delete_account":
                return ToolOutput("not allowed", is_error=True)
            return None

    class AsyncPassThrough:  # registered before the gate: asked first
        @hookimpl
        async def copass_router_dispatch_tool(self, call: ToolCallRequest) -> None:
            await asyncio.sleep(0)
            passed_through.append(call.name)

    protected = tool(_forbidden, name="delete_account")
    router = make_router(plugins=[AsyncPassThrough(), PolicyGate()], tools=[protected])
    results = await _results(router, "/tool delete_account {}")
    assert passed_through == ["delete_account"]
    assert gate_calls == ["delete_account"], "the policy gate never ran"
    assert results[0].is_error and results[0].output == "not allowed"


async def test_dispatch_asks_implementations_in_registration_order(
    make_router: Callable[..., Router],
) -> None:
    asked: list[str] = []

    def recorder(label: str, **opts: bool) -> object:
        class Plugin:
            @hookimpl(**opts)
            def copass_router_dispatch_tool(self, call: ToolCallRequest) -> None:
                asked.append(label)

        return Plugin()

    class AsyncNone:
        @hookimpl
        async def copass_router_dispatch_tool(self) -> None:
            asked.append("async")

    plugins = [
        recorder("a"),
        recorder("last", trylast=True),
        AsyncNone(),
        recorder("first", tryfirst=True),
        recorder("b"),
    ]
    router = make_router(plugins=plugins, tools=[tool(_forbidden, name="t")])
    results = await _results(router, "/tool t {}")
    assert results[0].output == "the account is gone", "all passed: the tool itself ran"
    assert asked == ["first", "a", "async", "b", "last"]


async def test_every_hook_has_one_row_in_the_call_table_and_the_docs() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "plugin-hooks.md").read_text()
    rows = dict(re.findall(r"^\| `(copass_router_\w+)` \| ([^|]+) \|", doc, re.MULTILINE))
    assert set(HOOK_CALLS) == set(HOOKS) == set(rows)
    for hook, how in HOOK_CALLS.items():
        spec = inspect.signature(getattr(hookspecs, hook)).parameters
        assert how.arguments == tuple(spec), hook
        assert rows[hook].strip() == ", ".join(f"`{a}`" for a in how.arguments), hook


async def test_registration_hooks_run_in_registration_order(
    make_router: Callable[..., Router],
) -> None:
    def provider_of(label: str, **opts: bool) -> object:
        class Plugin:
            @hookimpl(**opts)
            def copass_router_register_backends(self, register: BackendRegistrar) -> None:
                register("shared", lambda **_: None, description=label)

        return Plugin()

    plugins = [provider_of("a"), provider_of("first", tryfirst=True), provider_of("b")]
    infos = make_router(plugins=plugins).plugins.provider_infos()
    assert [i.description for i in infos if i.name == "shared"] == ["first"], "first kept"


async def test_an_async_answer_ends_the_chain(make_router: Callable[..., Router]) -> None:
    later: list[str] = []

    class Later:
        @hookimpl
        def copass_router_dispatch_tool(self, call: ToolCallRequest) -> None:
            later.append(call.name)

    class AsyncAnswer:
        @hookimpl
        async def copass_router_dispatch_tool(self, call: ToolCallRequest) -> ToolOutput:
            await asyncio.sleep(0)
            return ToolOutput({"answered": call.name})

    router = make_router(plugins=[AsyncAnswer(), Later()], tools=[tool(_forbidden, name="t")])
    results = await _results(router, "/tool t {}")
    assert results[0].output == '{"answered": "t"}' and not results[0].is_error
    assert later == []


async def test_middleware_runs_in_registration_order_with_tryfirst_first(
    make_router: Callable[..., Router],
) -> None:
    def tagger(tag: str, **opts: bool) -> object:
        class Plugin:
            @hookimpl(**opts)
            async def copass_router_process_event(self, event: Event, context: RunContext) -> Event:
                assert isinstance(context, RunContext) and context.provider == "echo"
                await asyncio.sleep(0)
                if isinstance(event, TextDelta):
                    return attrs.evolve(event, text=event.text + tag)
                return event

        return Plugin()

    plugins = [tagger("1"), tagger("Z", trylast=True), tagger("2"), tagger("0", tryfirst=True)]
    router = make_router(plugins=plugins)
    events = [e async for e in router.run(provider="echo", message="hi")]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts and all(t.endswith("012Z") for t in texts), texts


async def test_implementations_get_the_arguments_they_name_in_any_order(
    make_router: Callable[..., Router],
) -> None:
    seen: list[tuple[str, object]] = []

    class Reordered:
        @hookimpl
        def copass_router_dispatch_tool(self, context: ToolContext, call: ToolCallRequest) -> None:
            seen.append(("reordered", (context.end_user_id, call.name)))

    class ContextOnly:
        @hookimpl
        async def copass_router_dispatch_tool(self, context: ToolContext) -> None:
            seen.append(("context-only", context.end_user_id))

    class EventWithDefault:
        @hookimpl
        def copass_router_process_event(self, event: Event, context: object = None) -> Event:
            seen.append(("middleware", type(context).__name__))
            return event

    plugins = [Reordered(), ContextOnly(), EventWithDefault()]
    router = make_router(plugins=plugins, tools=[tool(_forbidden, name="t")])
    events = [e async for e in router.run(provider="echo", message="/tool t {}", end_user_id="u")]
    assert [e.output for e in events if isinstance(e, ToolResult)] == ["the account is gone"]
    dispatch = [entry for entry in seen if entry[0] != "middleware"]
    assert dispatch == [("reordered", ("u", "t")), ("context-only", "u")]
    assert {entry for entry in seen if entry[0] == "middleware"} == {("middleware", "RunContext")}
