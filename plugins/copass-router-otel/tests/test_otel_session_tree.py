"""The span tree docs/observability.md shows: one session across echo, Anthropic and Google (each
on its emulator, through the real SDK), a tool call on each, rendered with the in-memory exporter.
The doc's block is this test's output (ids shortened), so it cannot drift; run this test to see
the tree."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from copass_router_otel.testing import InMemoryTelemetry as Otel

from copass_router import Router, Tool

DOC = Path(__file__).parents[3] / "docs" / "observability.md"
MARKER = "<!-- span tree: plugins/copass-router-otel/tests/test_otel_session_tree.py -->"


def doc_tree() -> str:
    text = DOC.read_text()
    block = text[text.index(MARKER) :].split("```text\n", 1)[1]
    return block.split("```", 1)[0].rstrip("\n")


def shortened(tree: str) -> str:
    """Ids vary per run: shown by their kind only."""
    return re.sub(r"id=(call|sevt|adk)?[-_]?\S*", lambda m: f"id={m[1] or ''}…", tree)


def by_sibling_name(tree: str) -> list[str]:
    """The tree's lines with siblings in name order: whether a Google callback's tool span or
    the model call that asked for it reaches the router first is a race (see
    test_otel_providers), so only the doc's order of such siblings is fixed."""
    return sorted(tree.splitlines())


async def test_one_session_across_three_providers_is_one_trace(
    make_router: Callable[..., Router],
    otel: Otel,
    google_env: dict[str, str],
    deploy_engine: Callable[[str | None], str],
    anthropic_env: dict[str, str],
    lookup: Tool,
) -> None:
    import copass_router_anthropic
    import copass_router_google

    router = make_router(
        plugins=[copass_router_anthropic, copass_router_google, otel.plugin],
        environ={**google_env, **anthropic_env},
    )
    server = await router.start_dispatch_server()
    try:
        await converse(router, otel, deploy_engine(router.dispatch_url), lookup)
    finally:
        await server.aclose()
    rendered = shortened(otel.tree())
    print(rendered)
    runs = otel.named("invoke_agent")
    assert len({(r.attributes or {})["gen_ai.conversation.id"] for r in runs}) == 1
    assert len({s.context.trace_id for s in otel.spans() if s.context}) == 1
    assert by_sibling_name(rendered) == by_sibling_name(doc_tree()), rendered


async def converse(router: Router, otel: Otel, engine: str, lookup: Tool) -> None:
    """echo, then Anthropic, then Google, one session, inside the application's own span."""
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("support conversation"):
        first = await router.complete(
            provider="echo", message='/tool lookup {"city": "Paris"}', tools=[lookup]
        )
        sid = first.session_id
        await router.complete(
            provider="anthropic",
            model="claude-opus-4-7",
            session_id=sid,
            message='/tool lookup {"city": "Oslo"}',
            tools=[lookup],
        )
        await router.complete(
            provider="google",
            reasoning_engine_id=engine,
            session_id=sid,
            message='/tool lookup {"city": "Lima"}',
            tools=[lookup],
        )
