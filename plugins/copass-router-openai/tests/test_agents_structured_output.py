"""Structured output on the OpenAI Agents API: the schema is the agent's ``text.format``; a
session answers in the format it was made with, so another schema starts another session."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from copass_router_openai.emulator.agents import AgentsEmulator

from copass_router import Router, StructuredOutput

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"sku": {"type": "string"}},
    "required": ["sku"],
}
OTHER: dict[str, Any] = {
    "type": "object",
    "properties": {"count": {"type": "integer"}},
    "required": ["count"],
}


def _posts(emu: AgentsEmulator, path: str) -> list[Any]:
    return [r.body for r in emu.requests.matching(path) if r.method == "POST"]


async def test_the_schema_is_the_agents_text_format(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    result = await agents_router.complete(
        provider="openai-agents", message="crate", system="Be exact.", output_schema=SCHEMA
    )
    assert result.output == {"sku": "echo: crate"}
    assert isinstance(result.events[-2], StructuredOutput)
    [agent] = _posts(agents_emu, "/v1/agents")
    assert agent["text"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert agent["instructions"] == "Be exact."  # native: the schema is not stated in it


async def test_another_schema_or_none_starts_a_session_of_its_own(
    agents_router: Router, agents_emu: AgentsEmulator
) -> None:
    first = await agents_router.complete(
        provider="openai-agents", message="one", output_schema=SCHEMA
    )
    sid = first.session_id
    again = await agents_router.complete(
        provider="openai-agents", message="two", output_schema=SCHEMA, session_id=sid
    )
    other = await agents_router.complete(
        provider="openai-agents", message="three", output_schema=OTHER, session_id=sid
    )
    plain = await agents_router.complete(
        provider="openai-agents", message="/recall", session_id=sid
    )
    assert again.output == {"sku": "echo: two"}
    assert other.output == {"count": 0}
    assert "user: one" in plain.text and "user: two" in plain.text  # the new session got them
    assert len(_posts(agents_emu, "/v1/agents/sessions")) == 3  # same schema: same session
    turns = await agents_router.transcript(sid, "local")
    assert [t.status.value for t in turns] == ["completed"] * 4


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ({"format": {"type": "yaml"}}, "expected 'text' or 'json_schema'"),
        ({"format": {"type": "json_schema"}}, "text.format.schema"),
    ],
)
async def test_the_emulator_refuses_what_the_api_refuses(
    agents_emu: AgentsEmulator, text: dict[str, Any], says: str
) -> None:
    from .conftest import API_KEY

    async with openai.AsyncOpenAI(
        api_key=API_KEY, base_url=agents_emu.base_url, max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError, match=says):
            await client.beta.agents.create(model="gpt-4.1", name="x", text=text)  # type: ignore[arg-type]
