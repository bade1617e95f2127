"""Tool arguments a model sends, checked against the tool's JSON schema through ``Router.run``.

The echo provider calls whatever ``/tool NAME {json}`` says, so generated arguments reach the
router's dispatcher exactly as a provider's tool call would. Every run must finish with
``end_turn`` and one result per call: the tool's answer when the arguments fit its schema, an
``is_error`` result naming the problem when they do not, and the tool function never called
with arguments its schema refuses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from copass_router import Router, StopReason, ToolCall, ToolResult
from copass_router.testing import ScriptedBackend

from .conftest import JSON_VALUES, ToolLog, make_router, texts

KNOWN = ("lookup", "measure", "ping")
NAMES = st.one_of(
    st.sampled_from(KNOWN),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(lambda n: n not in KNOWN),
)
# The scripted model splits parallel calls on " ; ", so generated text must not hold it.
TEXT = texts(max_size=20).filter(lambda s: ";" not in s)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
LOOKUP_ARGS = st.fixed_dictionaries({"city": TEXT}, optional={"days": st.integers(-5, 30)})
MEASURE_ARGS = st.fixed_dictionaries(
    {"n": st.integers(-10, 2000)},
    optional={
        "unit": st.sampled_from(["m", "km", "miles"]),
        "tags": st.lists(TEXT, max_size=5),
        "where": st.dictionaries(st.sampled_from(["lat", "lon", "alt"]), VALUES, max_size=3),
    },
)
ARGUMENTS = st.one_of(
    LOOKUP_ARGS,
    MEASURE_ARGS,
    st.dictionaries(
        st.sampled_from(["city", "days", "n", "unit", "tags", "x"]), VALUES, max_size=3
    ),
    st.dictionaries(TEXT, VALUES, max_size=3),
    st.just({}),
)
CALLS = st.one_of(
    st.tuples(st.just("lookup"), LOOKUP_ARGS),
    st.tuples(st.just("measure"), MEASURE_ARGS),
    st.tuples(st.sampled_from(KNOWN), ARGUMENTS),
    st.tuples(st.sampled_from(KNOWN), ARGUMENTS),
    st.tuples(NAMES, ARGUMENTS),
)
SPECS = {t.spec.name: t.spec for t in ToolLog().tools()}


@pytest.fixture
async def tooled() -> AsyncIterator[tuple[Router, ToolLog]]:
    log = ToolLog()
    router = make_router(log, ScriptedBackend())
    try:
        yield router, log
    finally:
        await router.aclose()


def _schema_errors(name: str, arguments: dict[str, Any]) -> list[str] | None:
    """The schema's complaints about ``arguments`` (None for an unknown tool)."""
    if name not in SPECS:
        return None
    validator = jsonschema.validators.validator_for(SPECS[name].parameters)
    return [e.message for e in validator(SPECS[name].parameters).iter_errors(arguments)]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(CALLS)
async def test_any_tool_arguments_give_a_result_or_an_error_naming_the_problem(
    tooled: tuple[Router, ToolLog], case: tuple[str, dict[str, Any]]
) -> None:
    router, log = tooled
    name, arguments = case
    before = len(log.calls)
    message = f"/tool {name} {json.dumps(arguments)}"
    result = await router.complete(provider="echo", message=message, end_user_id="tools")
    note(f"{message} -> {[(r.output, r.is_error) for r in result.tool_results]}")
    assert result.stop_reason is StopReason.END_TURN
    (call,) = [e for e in result.events if isinstance(e, ToolCall)]
    (answer,) = [e for e in result.events if isinstance(e, ToolResult)]
    assert (call.name, answer.name, answer.call_id) == (name, name, call.call_id)
    assert json.dumps(call.arguments, sort_keys=True) == json.dumps(arguments, sort_keys=True)
    ran = len(log.calls) - before
    problems = _schema_errors(name, arguments)
    if problems is None:
        event("unknown tool")
        assert answer.is_error and f"unknown tool {name!r}" in answer.output and ran == 0
    elif problems:
        event("arguments break the schema")
        assert answer.is_error and ran == 0
        assert f"invalid arguments for {name!r}" in answer.output
        assert any(p in answer.output for p in problems), (answer.output, problems)
    elif ran:
        event("tool ran")
        assert not answer.is_error and log.calls[-1][0] == name
    else:
        # Fits the schema, but the function's signature still refused it (an extra key the
        # signature-derived schema does not forbid): an error naming the argument.
        event("refused by the signature")
        assert answer.is_error and f"tool {name!r} failed: TypeError" in answer.output
        assert "unexpected keyword argument" in answer.output
    assert result.text.startswith(f"tool results: {name} -> ")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=NAMES, arguments=VALUES.filter(lambda v: not isinstance(v, dict)))
async def test_arguments_that_are_not_an_object_never_reach_a_tool(
    tooled: tuple[Router, ToolLog], name: str, arguments: Any
) -> None:
    router, log = tooled
    message = f"/tool {name} {json.dumps(arguments)}"
    result = await router.complete(provider="echo", message=message, end_user_id="tools")
    note(f"{message} -> {[(r.output, r.is_error) for r in result.tool_results]}")
    assert result.stop_reason is StopReason.END_TURN
    (answer,) = result.tool_results
    assert answer.is_error and log.calls == []
    if name in KNOWN:
        assert "object" in answer.output
    else:
        assert f"unknown tool {name!r}" in answer.output or "object" in answer.output


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(arguments=st.dictionaries(TEXT, JSON_VALUES.filter(lambda v: v == v), max_size=2))
async def test_parallel_calls_each_get_their_own_result(
    tooled: tuple[Router, ToolLog], arguments: dict[str, Any]
) -> None:
    router, _ = tooled
    raw = json.dumps(arguments)
    if " ; " in raw:
        return  # the scripted model's separator; not a tool-argument question
    message = f"/tools measure {raw} ; nothing {raw} ; ping {{}}"
    result = await router.complete(provider="echo", message=message, end_user_id="tools")
    assert result.stop_reason is StopReason.END_TURN
    results = {r.call_id: r for r in result.tool_results}
    assert sorted(results) == sorted(c.call_id for c in result.tool_calls)
    assert len(results) == 3
    by_name = {r.name: r for r in results.values()}
    assert by_name["nothing"].is_error and not by_name["ping"].is_error


@pytest.mark.parametrize("raw", ["[1, 2]", "5", '"x"', "null", '[["city", "Oslo"]]'])
async def test_arguments_that_are_not_an_object_are_an_error_result(
    tooled: tuple[Router, ToolLog], raw: str
) -> None:
    router, log = tooled
    result = await router.complete(provider="echo", message=f"/tool lookup {raw}")
    assert result.stop_reason is StopReason.END_TURN
    (answer,) = result.tool_results
    assert answer.is_error and "object" in answer.output
    assert log.calls == []
