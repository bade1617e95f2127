"""The span tree of a run with a tool call on each provider plugin, driven against its emulator
through the real provider SDK (the emulators are started the way each plugin's tests do)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from copass_router_otel.testing import InMemoryTelemetry as Otel

from copass_router import Router, RunStarted, Tool, ToolCall

OPENAI_KEY = "sk-test-emulator-0123456789"


@pytest.fixture(scope="module")
def openai_env() -> Iterator[dict[str, str]]:
    from copass_router_openai.emulator import running_emulator

    with running_emulator(api_key=OPENAI_KEY) as emu:
        yield {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": emu.base_url}


def tree_of_tool_run(otel: Otel, events: list[Any], model: str, *, ordered: bool = True) -> None:
    """The tree every provider must give for ``tool_message``. ``ordered=False`` for a tool
    that comes back over HTTP (Google's callback): whether the callback's tool events or the
    stream's usage of the first model call reach the router first is a race, so sibling order
    is not checked, only which spans there are and under which parent."""
    order = (lambda xs: list(xs)) if ordered else sorted
    started = events[0]
    assert isinstance(started, RunStarted)
    call = next(e for e in events if isinstance(e, ToolCall))
    names = [line.strip().split("  ")[0] for line in otel.tree().splitlines()]
    assert order(names[1:]) == order([f"chat {model}", "execute_tool lookup", f"chat {model}"])
    assert names[0] == "invoke_agent"
    run = otel.named("invoke_agent")[0]
    chats = otel.named("chat")
    tool_span = otel.named("execute_tool")[0]
    assert all(s.parent and s.parent.span_id == run.context.span_id for s in [*chats, tool_span])  # type: ignore[union-attr]
    assert (run.attributes or {})["gen_ai.conversation.id"] == started.session_id
    assert (tool_span.attributes or {})["gen_ai.tool.call.id"] == call.call_id
    assert order((c.attributes or {})["gen_ai.response.finish_reasons"] for c in chats) == order(
        [("tool_call",), ("end_turn",)]
    )
    for chat in chats:
        attributes = chat.attributes or {}
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0


async def test_anthropic(
    make_router: Callable[..., Router],
    otel: Otel,
    anthropic_env: dict[str, str],
    lookup: Tool,
    tool_message: str,
) -> None:
    import copass_router_anthropic

    router = make_router(plugins=[copass_router_anthropic, otel.plugin], environ=anthropic_env)
    events = [
        e
        async for e in router.run(
            provider="anthropic", model="claude-opus-4-7", message=tool_message, tools=[lookup]
        )
    ]
    tree_of_tool_run(otel, events, "claude-opus-4-7")
    chat = otel.named("chat")[0].attributes or {}
    assert chat["gen_ai.provider.name"] == "anthropic"


async def test_openai(
    make_router: Callable[..., Router],
    otel: Otel,
    openai_env: dict[str, str],
    lookup: Tool,
    tool_message: str,
) -> None:
    import copass_router_openai

    router = make_router(plugins=[copass_router_openai, otel.plugin], environ=openai_env)
    events = [
        e
        async for e in router.run(
            provider="openai", model="gpt-4o", message=tool_message, tools=[lookup]
        )
    ]
    tree_of_tool_run(otel, events, "gpt-4o")
    chat = otel.named("chat")[0].attributes or {}
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.response.model"] == "gpt-4o"  # as the API answered it
    assert str(chat["gen_ai.response.id"]).startswith("chatcmpl-")


async def test_google_tools_through_the_dispatch_callback(
    google_router: Router, otel: Otel, google_engine: str, lookup: Tool, tool_message: str
) -> None:
    engine = google_engine
    events = [
        e
        async for e in google_router.run(
            provider="google", reasoning_engine_id=engine, message=tool_message, tools=[lookup]
        )
    ]
    model = events[0].model  # type: ignore[attr-defined]
    tree_of_tool_run(otel, events, model, ordered=False)
    tool_span = otel.named("execute_tool")[0].attributes or {}
    assert tool_span["copass_router.dispatch"] == "callback"  # came back over HTTP
    assert (otel.named("chat")[0].attributes or {})["gen_ai.provider.name"] == "gcp.vertex_ai"
    [callbacks] = otel.points("copass_router.dispatch.callbacks")
    assert callbacks.value == 1


async def test_a_session_across_providers_is_one_conversation(
    make_router: Callable[..., Router],
    otel: Otel,
    anthropic_env: dict[str, str],
    lookup: Tool,
    tool_message: str,
) -> None:
    import copass_router_anthropic

    router = make_router(plugins=[copass_router_anthropic, otel.plugin], environ=anthropic_env)
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("support conversation"):
        first = await router.complete(provider="echo", message=tool_message, tools=[lookup])
        await router.complete(
            provider="anthropic",
            model="claude-opus-4-7",
            session_id=first.session_id,
            message='/tool lookup {"city": "Oslo"}',
            tools=[lookup],
        )
    names = [line.split("  id=")[0].split("  finish")[0] for line in otel.tree().splitlines()]
    assert names == [
        "support conversation",
        "  invoke_agent",
        "    chat echo-1",
        "    execute_tool lookup",
        "    chat echo-1",
        "  invoke_agent",
        "    chat claude-opus-4-7",
        "    execute_tool lookup",
        "    chat claude-opus-4-7",
    ]
    runs = otel.named("invoke_agent")
    assert {(r.attributes or {})["gen_ai.conversation.id"] for r in runs} == {first.session_id}
    assert [(r.attributes or {})["gen_ai.provider.name"] for r in runs] == ["echo", "anthropic"]
