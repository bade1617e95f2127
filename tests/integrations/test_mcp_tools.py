"""MCP servers as router tools: listed, namespaced, cached, refreshed, called through the one
dispatcher, against the suite's own MCP server over stdio and streamable HTTP."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from copass_router import (
    ConfigurationError,
    InvalidRequestError,
    MCPServer,
    Router,
    StopReason,
    ToolResult,
)

from .conftest import HttpServer, stdio_server


def _result(run: Any) -> ToolResult:
    assert run.stop_reason is StopReason.END_TURN, run.errors
    (result,) = run.tool_results
    return result


async def test_stdio_server_tools_are_router_tools(make_router: Callable[..., Router]) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    names = {spec.name for spec in await router.list_tools()}
    assert {"docs__search", "docs__add", "docs__slow", "docs__die", "docs__grow"} <= names
    run = await router.complete(provider="echo", message='/tool docs__search {"query": "refunds"}')
    result = _result(run)
    assert not result.is_error and result.output.startswith("found: refunds")


async def test_http_server_with_a_header_from_the_environment(
    make_router: Callable[..., Router], http_server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-mcp-header-0123456789secret"
    server = MCPServer(
        name="wiki", url=http_server.url, headers_from_environ={"Authorization": "WIKI_MCP_AUTH"}
    )
    router = make_router(mcp_servers=[server], environ={"WIKI_MCP_AUTH": f"Bearer {secret}"})
    with caplog.at_level(logging.DEBUG):
        run = await router.complete(provider="echo", message='/tool wiki__search {"query": "q"}')
    assert _result(run).output.startswith("found: q")
    assert secret not in caplog.text and secret not in repr(server)


async def test_two_servers_tools_do_not_collide(
    make_router: Callable[..., Router], http_server: HttpServer
) -> None:
    router = make_router(
        mcp_servers=[stdio_server("docs"), {"name": "wiki", "url": http_server.url}]
    )
    names = [spec.name for spec in await router.list_tools()]
    assert "docs__search" in names and "wiki__search" in names
    assert len(names) == len(set(names))


async def test_arguments_are_validated_against_the_servers_schema(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    bad = _result(await router.complete(provider="echo", message='/tool docs__add {"a": {"x": 1}}'))
    assert bad.is_error and "invalid arguments" in bad.output
    good = _result(
        await router.complete(
            provider="echo",
            message='/tool docs__add {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 4}, "mode": "diff"}',
        )
    )
    assert not good.is_error and good.output == "(-2, -2)"


async def test_a_server_that_dies_mid_call_is_a_tool_error_and_comes_back(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(mcp_servers=[stdio_server(timeout=20)])
    first = _result(
        await router.complete(provider="echo", message='/tool docs__search {"query": "a"}')
    )
    died = _result(await router.complete(provider="echo", message="/tool docs__die {}"))
    assert died.is_error and "docs" in died.output
    again = _result(
        await router.complete(provider="echo", message='/tool docs__search {"query": "b"}')
    )
    assert not again.is_error
    pid = re.compile(r"pid (\d+)")
    assert pid.search(first.output) != pid.search(again.output)  # a new server process


async def test_a_slow_server_times_out_as_a_tool_error(make_router: Callable[..., Router]) -> None:
    router = make_router(mcp_servers=[stdio_server(timeout=1)])
    slow = _result(
        await router.complete(provider="echo", message='/tool docs__slow {"seconds": 30}')
    )
    assert slow.is_error and "timed out" in slow.output
    quick = _result(
        await router.complete(provider="echo", message='/tool docs__slow {"seconds": 0}')
    )
    assert quick.output == "slept 0.0"


async def test_a_changed_tool_list_is_read_again(
    make_router: Callable[..., Router], http_server: HttpServer
) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    assert "docs__extra" not in {s.name for s in await router.list_tools()}
    grown = _result(await router.complete(provider="echo", message="/tool docs__grow {}"))
    assert grown.output == "grown"
    assert "docs__extra" in {s.name for s in await router.list_tools()}
    extra = _result(await router.complete(provider="echo", message="/tool docs__extra {}"))
    assert extra.output == "extra ran"


async def test_the_tool_list_is_cached(make_router: Callable[..., Router]) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    first = await router.list_tools()
    (connection,) = router._mcp.connections  # type: ignore[union-attr]
    generation = connection.generation
    assert await router.list_tools() == first
    assert connection.generation == generation


async def test_server_errors_and_other_content_reach_the_model_as_text(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    failed = _result(
        await router.complete(provider="echo", message='/tool docs__fail {"reason": "x"}')
    )
    assert failed.is_error and "cannot: x" in failed.output
    picture = _result(await router.complete(provider="echo", message="/tool docs__picture {}"))
    assert not picture.is_error
    assert picture.output.splitlines() == [
        "a red dot",
        "[image: image/png, 8 bytes]",
        "[audio: audio/wav, 4 bytes]",
        "[resource: file:///notes.txt, text/plain]",
        "n1",
        "[resource: file:///dot.pdf, application/pdf, 6 bytes]",
        "[resource link: file:///big.csv, big.csv, text/csv]",
    ]


async def test_a_call_the_server_refuses_is_a_tool_error(
    make_router: Callable[..., Router],
) -> None:
    from copass_router.integrations.catalog import call_mcp_tool

    router = make_router(mcp_servers=[stdio_server()])
    await router.list_tools()
    (connection,) = router._mcp.connections  # type: ignore[union-attr]
    # A tool the server does not have (its list changed since it was read): an error result.
    output = await call_mcp_tool(connection, "gone", {})
    assert output.is_error and "gone" in str(output.output)
    # The connection is still good for the next call.
    found = await call_mcp_tool(connection, "search", {"query": "after"})
    assert not found.is_error and "after" in str(found.output)


async def test_an_unreachable_server_offers_no_tools_and_runs_go_on(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(
        mcp_servers=[{"name": "gone", "url": "http://127.0.0.1:9/mcp", "connect_timeout": 3}]
    )
    run = await router.complete(provider="echo", message="hello")
    assert run.stop_reason is StopReason.END_TURN and run.text


async def test_a_missing_secret_is_a_clear_configuration_error(
    make_router: Callable[..., Router],
) -> None:
    router = make_router(mcp_servers=[stdio_server(env_from_environ={"TOKEN": "DOCS_TOKEN"})])
    with pytest.raises(ConfigurationError, match="DOCS_TOKEN"):
        await router.complete(provider="echo", message="hello")


def test_bad_server_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="exactly one of"):
        MCPServer(name="x")
    with pytest.raises(ConfigurationError, match="name"):
        MCPServer(name="has space", command="x")
    with pytest.raises(ConfigurationError, match="http"):
        MCPServer(name="x", url="file:///etc/passwd")
    with pytest.raises(ConfigurationError, match="two MCP servers"):
        Router(mcp_servers=[stdio_server(), stdio_server()], load_entry_points=False, environ={})


def test_servers_come_from_the_environment(tmp_path: Any) -> None:
    import json

    path = tmp_path / "servers.json"
    path.write_text(json.dumps([stdio_server("fromfile")]))
    router = Router(load_entry_points=False, environ={"COPASS_ROUTER_MCP_SERVERS": str(path)})
    assert [s.name for s in router._mcp.servers] == ["fromfile"]  # type: ignore[union-attr]
    inline = json.dumps([{"name": "inline", "url": "http://127.0.0.1:1/mcp"}])
    router = Router(load_entry_points=False, environ={"COPASS_ROUTER_MCP_SERVERS": inline})
    assert [s.name for s in router._mcp.servers] == ["inline"]  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_MCP_SERVERS"):
        Router(load_entry_points=False, environ={"COPASS_ROUTER_MCP_SERVERS": "[oops"})


async def test_a_run_narrows_the_tools_and_never_widens(make_router: Callable[..., Router]) -> None:
    router = make_router(mcp_servers=[stdio_server()])
    run = await router.complete(
        provider="echo",
        message='/tool docs__add {"a": {"x": 1, "y": 1}, "b": {"x": 1, "y": 1}}',
        allowed_tools=["docs__s*"],
    )
    refused = _result(run)
    assert refused.is_error and "not allowed" in refused.output
    ok = await router.complete(
        provider="echo", message='/tool docs__search {"query": "z"}', allowed_tools=["docs__s*"]
    )
    assert not _result(ok).is_error
    with pytest.raises(InvalidRequestError, match="matches no tool"):
        await router.complete(provider="echo", message="hi", allowed_tools=["nosuch__*"])
    with pytest.raises(InvalidRequestError, match="operator configures servers"):
        await router.complete(
            provider="echo", message="hi", mcp_servers=[{"name": "x", "url": "http://evil/"}]
        )
    with pytest.raises(InvalidRequestError, match="operator configures servers"):
        await router.complete(provider="echo", message="hi", allowed_tools=["http://evil/mcp"])


def test_importing_the_router_does_not_import_the_mcp_sdk() -> None:
    code = "import sys; from copass_router import Router; Router; print('mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
