"""Structured output in the core: the schema forms a run takes, the check of the answer, the
one retry, and the mode each provider of a failover uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import attrs
import pydantic
import pytest

from copass_router import (
    ErrorCode,
    InvalidRequestError,
    Message,
    ProviderError,
    RetryPolicy,
    Router,
    StopReason,
    StructuredOutput,
    Usage,
)
from copass_router.testing import ScriptedBackend, ScriptedPlugin

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city", "days"],
}


class Trip(pydantic.BaseModel):
    city: str
    days: int


@attrs.frozen
class Stop:
    name: str
    minutes: int = 5


@attrs.frozen
class Route:
    stops: list[Stop]
    mode: Literal["bus", "train"]
    note: str | None = None


async def test_a_dict_schema_gives_the_parsed_value(make_router: Callable[..., Router]) -> None:
    result = await make_router().complete(provider="echo", message="Rome", output_schema=SCHEMA)
    assert result.output == {"city": "echo: Rome", "days": 1}
    assert json.loads(result.text) == result.output
    assert result.events[-2] == StructuredOutput(
        run_id=result.run_id, seq=result.events[-2].seq, value=result.output
    )


async def test_a_pydantic_class_gives_an_instance(make_router: Callable[..., Router]) -> None:
    result = await make_router().complete(provider="echo", message="Oslo", output_schema=Trip)
    assert result.output == Trip(city="echo: Oslo", days=0)


async def test_an_attrs_class_gives_an_instance(make_router: Callable[..., Router]) -> None:
    result = await make_router().complete(provider="echo", message="go", output_schema=Route)
    assert result.output == Route(stops=[Stop("echo: go", 0)], mode="bus", note="echo: go")


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ("a string", "a JSON Schema (a dict), a pydantic model class or an attrs class"),
        ({"type": "object", "properties": {"a": {"type": "strung"}}}, "not a valid JSON Schema"),
        ({"type": "array", "items": {}}, "must describe an object"),
        ({"type": "object", "description": "x" * 70_000}, "the limit is 64000"),
        (type("Plain", (), {}), "got type"),
    ],
)
async def test_a_bad_schema_is_refused_before_the_run(
    make_router: Callable[..., Router], schema: Any, says: str
) -> None:
    router = make_router()
    with pytest.raises(InvalidRequestError) as refused:
        router.run(provider="echo", message="hi", output_schema=schema)
    assert refused.value.field == "output_schema"
    assert says in str(refused.value)
    assert await router.list_sessions("local") == []


async def test_an_attrs_field_without_a_schema_is_refused_by_name(
    make_router: Callable[..., Router],
) -> None:
    @attrs.frozen
    class Odd:
        when: complex

    with pytest.raises(InvalidRequestError, match=r"output_schema Odd\.when"):
        make_router().run(provider="echo", message="hi", output_schema=Odd)


async def test_a_fenced_answer_is_accepted(make_router: Callable[..., Router]) -> None:
    fenced = '```json\n{"city": "Bern", "days": 2}\n```'
    result = await make_router().complete(
        provider="echo", message=f"/json {fenced}", output_schema=SCHEMA
    )
    assert result.output == {"city": "Bern", "days": 2}


async def test_the_retry_tells_the_model_what_failed_and_the_transcript_keeps_both(
    make_router: Callable[..., Router],
) -> None:
    router = make_router()
    result = await router.complete(
        provider="echo", message='/json {"city": "Bern", "days": 0}', output_schema=SCHEMA
    )
    assert result.output == {"city": 'echo: {"city": "Bern", "days": 0}', "days": 1}
    [turn] = await router.transcript(result.session_id, "local")
    texts = [item.text for item in turn.items]  # type: ignore[union-attr]
    assert texts == ['{"city": "Bern", "days": 0}', json.dumps(result.output)]
    assert turn.stop_reason is StopReason.END_TURN
    # Both model calls are metered: two usage events, summed in the run's usage.
    usages = [e for e in result.events if isinstance(e, Usage)]
    assert len(usages) == 2
    assert result.usage.output_tokens == sum(u.output_tokens for u in usages)


async def test_a_provider_without_a_native_mode_gets_the_schema_in_its_system_prompt(
    make_router: Callable[..., Router],
) -> None:
    plain = ScriptedBackend()
    plain.enqueue(Message(text='{"city": "Lima", "days": 3}'), Usage(output_tokens=1))
    router = make_router(plugins=[ScriptedPlugin(plain=plain)])
    result = await router.complete(
        provider="plain", message="trip", system="Be brief.", output_schema=SCHEMA
    )
    assert result.output == {"city": "Lima", "days": 3}
    [turn] = plain.turns
    assert turn.system is not None and turn.system.startswith("Be brief.\n\n")
    assert json.dumps(SCHEMA, separators=(",", ":"), sort_keys=True) in turn.system
    assert turn.output_schema == SCHEMA


async def test_after_a_failover_the_next_provider_uses_its_own_mode(
    make_router: Callable[..., Router],
) -> None:
    plain = ScriptedBackend()
    plain.enqueue(raises=ProviderError("down", provider="plain", status=503))
    router = make_router(
        plugins=[ScriptedPlugin(plain=plain)], retry_policy=RetryPolicy(max_retries=0)
    )
    result = await router.complete(
        provider="plain",
        message="Kyiv",
        output_schema=SCHEMA,
        fallbacks=[{"provider": "echo"}],
    )
    assert result.output == {"city": "echo: Kyiv", "days": 1}
    assert "<output-schema>" in (plain.turns[0].system or "")
    # echo takes the schema natively: its system prompt was not touched.
    echoed = await router.complete(provider="echo", message="/whoami", session_id=result.session_id)
    assert "output-schema" not in echoed.text


async def test_two_answers_that_do_not_validate_end_with_output_invalid(
    make_router: Callable[..., Router],
) -> None:
    router = make_router()
    result = await router.complete(provider="echo", message="/badjson [1, 2]", output_schema=SCHEMA)
    assert result.output is None
    assert result.stop_reason is StopReason.ERROR
    [error] = result.errors
    assert error.code == ErrorCode.OUTPUT_INVALID
    assert "is not of type 'object'" in error.message
    [turn] = await router.transcript(result.session_id, "local")
    assert [item.text for item in turn.items] == ["[1, 2]", "[1, 2]"]  # type: ignore[union-attr]
