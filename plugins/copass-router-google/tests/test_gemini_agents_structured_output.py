"""``gemini-agents`` and the run's output schema: sent natively as the interaction's
``response_format`` (real google-genai SDK against the emulator, which checks it as the API
does and answers JSON of the schema)."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_google.emulator._interactions_wire import WireError, output_schema

from copass_router import Router, StructuredOutput

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"room": {"type": "string"}, "floor": {"type": "integer"}},
    "required": ["room", "floor"],
}


async def test_the_schema_goes_as_response_format(
    gemini_router: Router, interactions_emu: Any
) -> None:
    result = await gemini_router.complete(
        provider="gemini-agents", message="lobby", system="Be exact.", output_schema=SCHEMA
    )
    assert result.output == {"room": "echo: lobby", "floor": 0}
    assert isinstance(result.events[-2], StructuredOutput)
    [request] = interactions_emu.requests.matching("/v1beta/interactions", method="POST")
    assert request.body["response_format"] == {
        "type": "text",
        "mime_type": "application/json",
        "schema": SCHEMA,
    }
    assert request.body["system_instruction"] == "Be exact."  # native: not stated in it


async def test_the_retry_chains_on_the_same_interaction_history(
    gemini_router: Router, interactions_emu: Any
) -> None:
    result = await gemini_router.complete(
        provider="gemini-agents", message='/json {"room": 1}', output_schema=SCHEMA
    )
    assert result.output == {"room": 'echo: {"room": 1}', "floor": 0}
    first, second = interactions_emu.requests.matching("/v1beta/interactions", method="POST")
    assert second.body["previous_interaction_id"]
    assert "does not match the required JSON Schema" in str(second.body["input"])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"type": "text", "schema": SCHEMA}, "only applicable when mime_type is application/json"),
        ({"type": "text", "mime_type": "application/xml"}, "is not supported"),
        ({"type": "text", "mime_type": "application/json", "schema": [1]}, "must be an object"),
        ("json", "must be an object"),
    ],
)
def test_the_emulator_refuses_what_the_api_refuses(value: Any, says: str) -> None:
    with pytest.raises(WireError, match=says):
        output_schema(value)
