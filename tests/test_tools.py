"""The dispatcher: schemas, validation, timeouts, concurrency, errors the model sees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from copass_router import (
    Message,
    Router,
    StopReason,
    Tool,
    ToolCall,
    ToolContext,
    ToolOutput,
    ToolResult,
    hookimpl,
    tool,
)


def test_schema_comes_from_the_signature() -> None:
    @tool
    def weather(city: str, days: int = 1, metric: bool | None = None) -> str:
        """Forecast for a city.

        More detail that the model does not need."""
        return city

    assert weather.spec.description == "Forecast for a city."
    assert weather.spec.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
        },
        "required": ["city"],
    }


async def _results(router: Router, message: str, **kw: Any) -> tuple[list[ToolResult], Any]:
    events = [e async for e in router.run(provider="echo", message=message, **kw)]
    return [e for e in events if isinstance(e, ToolResult)], events


async def test_invalid_arguments_reach_the_model_as_an_error(router: Router) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    results, events = await _results(router, '/tool add {"a": "one"}', tools=[add])
    assert len(results) == 1 and results[0].is_error
    assert "a: 'one' is not of type 'integer'" in results[0].output
    assert "'b' is a required property" in results[0].output
    final = [e for e in events if isinstance(e, Message)][-1]
    assert "invalid arguments" in final.text  # the model saw the error and answered
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_a_hanging_tool_times_out(make_router: Callable[..., Router]) -> None:
    @tool(timeout=0.2)
    async def hang() -> str:
        await asyncio.sleep(60)
        return "never"

    router = make_router()
    results, events = await _results(router, "/tool hang {}", tools=[hang])
    assert results[0].is_error and "timed out after 0.2 s" in results[0].output
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_a_hanging_sync_tool_times_out_and_the_loop_keeps_running(
    make_router: Callable[..., Router],
) -> None:
    @tool(timeout=0.2)
    def stuck() -> str:
        time.sleep(0.6)  # on a worker thread: the event loop is never blocked
        return "late"

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    router = make_router()
    results, _ = await _results(router, "/tool stuck {}", tools=[stuck])
    ticker.cancel()
    assert results[0].is_error and "timed out after 0.2 s" in results[0].output
    assert ticks >= 5  # the loop ran other work while the tool was stuck


async def test_sync_and_async_tools_run_concurrently(router: Router) -> None:
    spans: dict[str, tuple[float, float]] = {}

    def slow_sync(x: int) -> int:
        start = time.monotonic()
        time.sleep(0.3)
        spans["sync"] = (start, time.monotonic())
        return x

    async def slow_async(x: int) -> int:
        start = time.monotonic()
        await asyncio.sleep(0.3)
        spans["async"] = (start, time.monotonic())
        return x * 10

    results, _ = await _results(
        router, '/tools slow_sync {"x": 1} ; slow_async {"x": 2}', tools=[slow_sync, slow_async]
    )
    assert sorted(r.output for r in results) == ["1", "20"]
    # Each started before the other ended: the calls ran at once, not one after the other.
    (a_start, a_end), (b_start, b_end) = spans["sync"], spans["async"]
    assert a_start < b_end and b_start < a_end, "parallel calls must not run one after the other"


async def test_tool_failures_become_error_results(router: Router) -> None:
    def boom() -> str:
        raise RuntimeError("disk on fire")

    def not_json() -> object:
        return object()

    results, events = await _results(router, "/tools boom {} ; not_json {}", tools=[boom, not_json])
    by_name = {r.name: r for r in results}
    assert by_name["boom"].is_error and "RuntimeError: disk on fire" in by_name["boom"].output
    assert by_name["not_json"].is_error and "not JSON" in by_name["not_json"].output
    assert events[-1].stop_reason is StopReason.END_TURN


async def test_unknown_tool_lists_the_available_ones(router: Router) -> None:
    def known() -> str:
        return "k"

    results, _ = await _results(router, "/tool missing {}", tools=[known])
    assert results[0].is_error and "available tools: known" in results[0].output


async def test_tool_context_is_passed_when_asked_for(router: Router) -> None:
    def whoami(tool_context: ToolContext) -> str:
        return tool_context.end_user_id

    results, _ = await _results(router, "/tool whoami {}", tools=[whoami], end_user_id="u-7")
    assert results[0].output == "u-7"
    assert "tool_context" not in Tool.__annotations__  # sanity: a parameter, not a field


async def test_dispatch_hook_routes_a_call_elsewhere(make_router: Callable[..., Router]) -> None:
    seen: list[str] = []

    class Gate:
        @hookimpl
        async def copass_router_dispatch_tool(self, call: Any, context: ToolContext) -> Any:
            seen.append(call.name)
            if call.name == "remote":
                return ToolOutput({"from": "remote", "user": context.end_user_id})
            return None

    def local() -> str:
        return "local result"

    router = make_router(plugins=[Gate()], tools=[local])
    results, events = await _results(router, "/tools remote {} ; local {}")
    by_name = {r.name: r for r in results}
    assert by_name["remote"].output == '{"from": "remote", "user": "local"}'
    assert by_name["local"].output == "local result"
    assert sorted(seen) == ["local", "remote"]
    assert [e.name for e in events if isinstance(e, ToolCall)] == ["remote", "local"]


async def test_tool_round_cap_ends_with_tool_limit(router: Router) -> None:
    def again() -> str:
        return "more"

    results, events = await _results(router, "/loop again {}", tools=[again], max_tool_rounds=3)
    assert len(results) == 3
    assert events[-1].stop_reason is StopReason.TOOL_LIMIT


async def test_a_huge_tool_output_is_an_error_result_not_a_huge_event(router: Router) -> None:
    from copass_router.tools._tools import MAX_OUTPUT_CHARS

    def dump() -> str:
        return "x" * (MAX_OUTPUT_CHARS + 1)

    results, events = await _results(router, "/tool dump {}", tools=[dump])
    (result,) = results
    assert result.is_error and len(result.output) < 200
    assert "the limit is" in result.output
    assert events[-1].stop_reason is StopReason.END_TURN
