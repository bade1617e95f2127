"""Engine references and the event translation, without the network."""

from __future__ import annotations

import pytest
from copass_router_google.engine_ref import parse_engine_ref
from copass_router_google.translate import AdkEventTranslator

from copass_router import (
    ERROR_CODES,
    Error,
    InvalidRequestError,
    Message,
    StopReason,
    TextDelta,
    ToolCall,
    Usage,
    neutral_code,
)

FULL = "projects/p-1/locations/europe-west4/reasoningEngines/123"


def test_full_resource_name_carries_project_and_location() -> None:
    ref = parse_engine_ref(FULL, location=None, project=None, environ={})
    assert (ref.project, ref.location, ref.engine_id) == ("p-1", "europe-west4", "123")
    assert ref.name == FULL


def test_short_id_takes_project_and_location_overrides() -> None:
    environ = {"GOOGLE_CLOUD_PROJECT": "env-proj", "GOOGLE_CLOUD_LOCATION": "asia-east1"}
    assert parse_engine_ref("42", location=None, project=None, environ=environ).name == (
        "projects/env-proj/locations/asia-east1/reasoningEngines/42"
    )
    assert parse_engine_ref("42", location="us-east4", project="opt", environ=environ).name == (
        "projects/opt/locations/us-east4/reasoningEngines/42"
    )
    assert parse_engine_ref(
        "reasoningEngines/42", location=None, project="p", environ={}
    ).location == ("us-central1")


@pytest.mark.parametrize(
    ("value", "location", "environ", "field"),
    [
        (None, None, {}, "reasoning_engine_id"),
        ("  ", None, {}, "reasoning_engine_id"),
        ("projects/p/reasoningEngines/1", None, {}, "reasoning_engine_id"),
        ("has spaces", None, {"GOOGLE_CLOUD_PROJECT": "p"}, "reasoning_engine_id"),
        ("42", None, {}, "reasoning_engine_id"),  # short id without a project
        (FULL, "us-central1", {}, "location"),  # contradicts the name
        ("42", "Not A Location", {"GOOGLE_CLOUD_PROJECT": "p"}, "location"),
    ],
)
def test_bad_engine_references_name_the_field(
    value: str | None, location: str | None, environ: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_engine_ref(value, location=location, project=None, environ=environ)
    assert caught.value.field == field


def test_translator_maps_stream_and_drops_the_proxy_tool() -> None:
    translator = AdkEventTranslator()
    events = []
    for adk in [
        {
            "content": {
                "role": "model",
                "parts": [
                    {
                        "function_call": {
                            "id": "c0",
                            "name": "copass_dispatch",
                            "args": {"tool_name": "x", "arguments": {}},
                        }
                    }
                ],
            }
        },
        {
            "content": {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "id": "c0",
                            "name": "copass_dispatch",
                            "response": {"output": "1"},
                        }
                    }
                ],
            }
        },
        {
            "content": {
                "role": "model",
                "parts": [
                    {"function_call": {"id": "g1", "name": "google_search", "args": {"q": "x"}}}
                ],
            }
        },
        {"content": {"role": "model", "parts": [{"text": "a "}]}, "partial": True},
        {"content": {"role": "model", "parts": [{"text": "b"}]}, "partial": True},
        {
            "content": {"role": "model", "parts": [{"text": "a b"}]},
            "finish_reason": "MAX_TOKENS",
            "usage_metadata": {
                "prompt_token_count": 7,
                "candidates_token_count": 2,
                "thoughts_token_count": 1,
                "cached_content_token_count": 3,
            },
        },
    ]:
        events.extend(translator.feed(adk))
    assert [type(e) for e in events] == [ToolCall, TextDelta, TextDelta, Message, Usage]
    assert isinstance(events[0], ToolCall) and events[0].name == "google_search"
    assert events[-1] == Usage(input_tokens=7, output_tokens=3, cache_read_tokens=3)
    assert translator.stop_reason is StopReason.MAX_TOKENS


def test_translator_error_events_and_unstreamed_text() -> None:
    translator = AdkEventTranslator()
    text = translator.feed({"content": {"role": "model", "parts": [{"text": "whole"}]}})
    assert text == [TextDelta(text="whole"), Message(text="whole", provider_data={"google": {}})]
    failed = translator.feed({"error_code": "RESOURCE_EXHAUSTED", "error_message": "quota"})
    assert len(failed) == 1 and isinstance(failed[0], Error)
    # ADK's own code: the core maps it onto the neutral vocabulary (and the table's retryable).
    assert (failed[0].code, failed[0].message) == ("RESOURCE_EXHAUSTED", "quota")
    assert neutral_code(failed[0].code) == "rate_limited" and ERROR_CODES["rate_limited"].retryable
    assert translator.stop_reason is StopReason.ERROR


def test_instruction_carries_the_prompt_verbatim_and_the_runs_catalogue() -> None:
    from types import SimpleNamespace

    from copass_router_google.agent_app import agent_name, render_instruction

    tools = [
        {
            "name": "lookup",
            "description": "Find a thing.",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
        }
    ]
    text = render_instruction("Be kind to {user}.", SimpleNamespace(state={"copass_tools": tools}))
    assert text.startswith("Be kind to {user}.")
    assert "copass_dispatch(tool_name=" in text
    assert "- lookup: Find a thing." in text and '"key": {"type": "string"}' in text
    empty = render_instruction("P", SimpleNamespace(state={}))
    assert "No tools are available" in empty
    assert agent_name("support-agent") == "support_agent" and agent_name("9x").startswith("agent_")


async def test_a_cut_aiohttp_stream_is_a_retryable_connection_error() -> None:
    import aiohttp
    from copass_router_google.backend import _provider_errors

    from copass_router import ProviderError

    with pytest.raises(ProviderError) as info:
        async with _provider_errors(None):
            raise aiohttp.ClientPayloadError("Response payload is not completed")
    assert info.value.retryable and info.value.code == "connection_failed"


@pytest.mark.parametrize(
    ("env", "version", "model"),
    [
        ({}, 1, None),  # deployed before the contract was recorded
        ({"COPASS_ROUTER_AGENT_CONTRACT": "2", "COPASS_ROUTER_AGENT_MODEL": "g-1"}, 2, "g-1"),
        ({"COPASS_ROUTER_AGENT_CONTRACT": "two"}, 1, None),  # unreadable: the safe side
        ({"COPASS_ROUTER_AGENT_CONTRACT": "3"}, 3, None),
    ],
)
def test_engine_contract_from_its_environment(
    env: dict[str, str], version: int, model: str | None
) -> None:
    from copass_router_google.contract import contract_from_env

    contract = contract_from_env(env.items())
    assert (contract.version, contract.model) == (version, model)
    assert contract.per_run_settings is (version >= 2)
    assert contract.per_run_generation is (version >= 3)
