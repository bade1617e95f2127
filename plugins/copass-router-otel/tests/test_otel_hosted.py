"""Hosted runs under a propagated parent: the W3C ``traceparent`` travels client -> server -> run
span (a real uvicorn server on loopback, as tests/hosted does)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from copass_router_otel.testing import InMemoryTelemetry as Otel
from opentelemetry.sdk.trace import TracerProvider

from copass_router import RemoteRouter, Router, Tool
from copass_router.server import create_app, start_server

KEY = "otel-test-key-0123456789abcdef"


@pytest.fixture
async def hosted_url(otel: Otel, lookup: Tool) -> AsyncIterator[str]:
    router = Router(
        store=":memory:",
        load_entry_points=False,
        environ={},
        plugins=[otel.plugin],
        tools=[lookup],
    )
    server = await start_server(create_app(router, api_keys=[f"alpha:{KEY}"]))
    yield server.base_url
    await server.aclose()
    await router.aclose()


async def test_remote_router_sends_the_callers_trace_and_the_run_joins_it(
    hosted_url: str, otel: Otel, lookup: Tool, tool_message: str
) -> None:
    client_side = TracerProvider()  # the application's own, apart from the server's
    tracer = client_side.get_tracer("app")
    async with RemoteRouter(hosted_url, KEY) as remote:
        with tracer.start_as_current_span("checkout") as outer:
            result = await remote.complete(provider="echo", message=tool_message)
    assert result.text == "tool results: lookup -> sunny in Paris"
    run = otel.named("invoke_agent")[0]
    context = outer.get_span_context()
    assert run.parent is not None and run.parent.is_remote
    assert run.parent.span_id == context.span_id
    assert run.context is not None and run.context.trace_id == context.trace_id
    names = [line.strip().split("  ")[0] for line in otel.tree().splitlines()]
    assert names == ["invoke_agent", "chat echo-1", "execute_tool lookup", "chat echo-1"]


async def test_a_traceparent_header_parents_the_run_span(hosted_url: str, otel: Otel) -> None:
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    headers = {
        "Authorization": f"Bearer {KEY}",
        "traceparent": f"00-{trace_id}-{parent_id}-01",
        "tracestate": "vendor=opaque",
    }
    async with httpx.AsyncClient(base_url=hosted_url, headers=headers, timeout=10) as http:
        response = await http.post("/v1/runs", json={"provider": "echo", "message": "hi"})
    assert response.status_code == 200
    run = otel.named("invoke_agent")[0]
    assert run.context is not None and run.parent is not None
    assert format(run.context.trace_id, "032x") == trace_id
    assert format(run.parent.span_id, "016x") == parent_id
    assert run.context.trace_state.get("vendor") == "opaque"


async def test_without_a_header_a_hosted_run_is_a_root(hosted_url: str, otel: Otel) -> None:
    async with RemoteRouter(hosted_url, KEY) as remote:
        await remote.complete(provider="echo", message="hi")
    assert otel.named("invoke_agent")[0].parent is None
