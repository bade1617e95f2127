"""Structured output on Chat Completions: the native ``response_format`` a run sends, and the
emulator refusing what the API refuses."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from copass_router_openai.emulator import OpenAIEmulator

from copass_router import Router, StructuredOutput

CLOSED: dict[str, Any] = {
    "type": "object",
    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
    "required": ["sku", "qty"],
    "additionalProperties": False,
}
OPEN: dict[str, Any] = {"type": "object", "properties": {"sku": {"type": "string"}}}


@pytest.mark.parametrize(("schema", "strict"), [(CLOSED, True), (OPEN, False)])
async def test_the_schema_goes_as_response_format(
    openai_router: Router, emu: OpenAIEmulator, schema: dict[str, Any], strict: bool
) -> None:
    result = await openai_router.complete(
        provider="openai", message="box", system="Be exact.", output_schema=schema
    )
    assert isinstance(result.events[-2], StructuredOutput)
    assert result.output["sku"] == "echo: box"
    [request] = emu.chat_requests()
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": strict},
    }
    # Native: the system prompt is the run's own, the schema is not stated in it.
    assert request.body["messages"][0] == {"role": "system", "content": "Be exact."}


async def test_response_format_in_extra_body_is_refused_with_the_run_field_named(
    openai_router: Router,
) -> None:
    from copass_router import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="output_schema=") as refused:
        await openai_router.complete(
            provider="openai",
            message="x",
            options={"extra_body": {"response_format": {"type": "json_object"}}},
        )
    assert refused.value.field == "options.extra_body.response_format"


async def _create(emu: OpenAIEmulator, api_key: str, **kwargs: Any) -> Any:
    client = openai.AsyncOpenAI(base_url=emu.base_url, api_key=api_key, max_retries=0)
    return await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a box"}], **kwargs
    )


@pytest.mark.parametrize(
    ("response_format", "says"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "o", "schema": OPEN, "strict": True}},
            "'additionalProperties' is required to be supplied and to be false",
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "o",
                    "schema": {**CLOSED, "required": ["sku"]},
                    "strict": True,
                },
            },
            "Missing 'qty'",
        ),
        ({"type": "json_schema", "json_schema": {"schema": CLOSED}}, "json_schema.name"),
        (
            {"type": "json_schema", "json_schema": {"name": "bad name", "schema": CLOSED}},
            "does not match pattern",
        ),
        ({"type": "json_object"}, "must contain the word 'json'"),
        ({"type": "yaml"}, "Supported values"),
    ],
)
async def test_the_emulator_refuses_what_the_api_refuses(
    emu: OpenAIEmulator, api_key: str, response_format: dict[str, Any], says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await _create(emu, api_key, response_format=response_format)
    assert says in str(refused.value)


async def test_the_emulator_answers_json_of_the_schema(emu: OpenAIEmulator, api_key: str) -> None:
    completion = await _create(
        emu,
        api_key,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "o", "schema": CLOSED, "strict": True},
        },
    )
    assert completion.choices[0].message.content == '{"sku": "echo: a box", "qty": 0}'
