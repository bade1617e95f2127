"""One MCP tool on every provider: the session moves anthropic -> google -> gemini-agents ->
openai-compatible using the same server's tool, and keeps its memory; approvals and narrowing hold everywhere.
Each provider runs its real SDK against its emulator; google calls back through copass_dispatch.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import copass_router_anthropic
import copass_router_google
import copass_router_openai
import pytest

from copass_router import ApprovalRequested, Event, Router, StopReason, ToolResult

from .conftest import HttpServer
from .every_provider import (
    GEMINI_KEY,
    PROJECT,
    PROVIDERS,
    every_emulator,
    provider_environ,
    provider_fields,
)


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, Any]]:
    with every_emulator() as running:
        yield running


@pytest.fixture
async def setup(
    make_router: Callable[..., Router], emulators: dict[str, Any], http_server: HttpServer
) -> AsyncIterator[tuple[Router, str]]:
    env = provider_environ(emulators)
    router = make_router(
        plugins=[copass_router_anthropic, copass_router_google, copass_router_openai],
        environ=env,
        mcp_servers=[{"name": "docs", "url": http_server.url, "require_approval": ["add"]}],
    )
    server = await router.start_dispatch_server()
    engine = emulators["google"].add_engine(
        display_name="integrations-agent", dispatch_url=router.dispatch_url, project=PROJECT
    )
    yield router, engine
    await server.aclose()


def _fields(provider: str, engine: str, **extra: Any) -> dict[str, Any]:
    return {**provider_fields(provider, engine), "end_user_id": "integrator", **extra}


async def test_a_session_uses_one_mcp_tool_on_three_providers(setup: tuple[Router, str]) -> None:
    router, engine = setup
    session = None
    for provider, word in (
        ("anthropic", "alpha"),
        ("google", "beta"),
        ("gemini-agents", "delta"),
        ("openai-compatible", "gamma"),
    ):
        run = await router.complete(
            message=f'/tool docs__search {{"query": "{word}"}}',
            session_id=session,
            **_fields(provider, engine),
        )
        assert run.stop_reason is StopReason.END_TURN, (provider, run.errors)
        (result,) = run.tool_results
        assert result.name == "docs__search" and result.output.startswith(f"found: {word}")
        session = run.session_id
    recall = await router.complete(
        message="/recall", session_id=session, **_fields("openai-compatible", engine)
    )
    for word in ("alpha", "beta", "delta", "gamma"):
        assert f"found: {word}" in recall.text, recall.text
    turns = await router.transcript(session, "integrator")
    providers = ["anthropic", "google", "gemini-agents", "openai-compatible", "openai-compatible"]
    assert [t.provider for t in turns] == providers


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_approvals_pause_the_run_on_every_provider(
    setup: tuple[Router, str], provider: str
) -> None:
    router, engine = setup
    events: list[Event] = []
    message = '/tool docs__add {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 4}}'
    async for event in router.run(message=message, **_fields(provider, engine)):
        events.append(event)
        if isinstance(event, ApprovalRequested):
            assert router.deny(event.run_id, event.call_id, "not now")
    asked = [e for e in events if isinstance(e, ApprovalRequested)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [a.name for a in asked] == ["docs__add"], provider
    assert results[0].is_error and "not now" in results[0].output, provider


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_other_content_and_server_errors_reach_the_model_on_every_provider(
    setup: tuple[Router, str], provider: str
) -> None:
    router, engine = setup
    run = await router.complete(message="/tool docs__picture {}", **_fields(provider, engine))
    assert run.stop_reason is StopReason.END_TURN, (provider, run.errors)
    (result,) = run.tool_results
    assert "[image: image/png, 8 bytes]" in result.output and not result.is_error
    # the model's reply quotes what it was given: the rendering reached it
    assert "[resource: file:///dot.pdf, application/pdf, 6 bytes]" in run.text, provider
    failed = await router.complete(
        message='/tool docs__fail {"reason": "no stock"}', **_fields(provider, engine)
    )
    assert failed.stop_reason is StopReason.END_TURN, (provider, failed.errors)
    (error,) = failed.tool_results
    assert error.is_error and "cannot: no stock" in error.output
    assert "cannot: no stock" in failed.text, provider


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_a_narrowed_run_declares_only_its_tools(
    setup: tuple[Router, str], emulators: dict[str, Any], provider: str
) -> None:
    router, engine = setup
    emulator = emulators[provider]
    mark = len(emulator.requests)
    run = await router.complete(
        message="hello",
        allowed_tools=["docs__search"],
        keep_allowed_tools=True,
        **_fields(provider, engine),
    )
    assert run.stop_reason is StopReason.END_TURN
    sent = json.dumps([r.body for r in emulator.requests[mark:]], default=str)
    assert "docs__search" in sent and "docs__add" not in sent
    # the session keeps the narrowing: its next run is told of no other tool (anthropic's
    # agent, declared with the same tools, is the one already made: a wider set would be a
    # new agent declaring docs__add)
    mark = len(emulator.requests)
    later = await router.complete(
        message="again", session_id=run.session_id, **_fields(provider, engine)
    )
    assert later.stop_reason is StopReason.END_TURN
    sent = json.dumps([r.body for r in emulator.requests[mark:]], default=str)
    assert "docs__add" not in sent
    assert provider == "anthropic" or "docs__search" in sent


async def test_gemini_agents_refuses_a_built_in_tool_the_approval_policy_names(
    make_router: Callable[..., Router], emulators: dict[str, Any]
) -> None:
    env = {"GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": emulators["gemini"].base_url}
    router = make_router(
        plugins=[copass_router_google],
        environ=env,
        provider_settings={"gemini-agents": {"builtin_tools": ["code_execution"]}},
        require_approval=["code_*"],
    )
    mark = len(emulators["gemini"].requests)
    run = await router.complete(provider="gemini-agents", message="hello")
    assert run.stop_reason is StopReason.ERROR
    (error,) = run.errors
    assert "code_execution" in error.message and "approval" in error.message
    assert len(emulators["gemini"].requests) == mark  # nothing ran unasked
