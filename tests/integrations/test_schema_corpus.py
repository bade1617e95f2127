"""Every tool schema of the corpus reaches every provider's emulator in a form its API takes;
raw schemas the APIs refuse are refused by the emulators; arguments are still checked against
the original schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import copass_router_anthropic
import copass_router_google
import copass_router_openai
import openai
import pytest

from copass_router import Router, StopReason, Tool, ToolSpec, normalise_schema
from copass_router.testing import schema_problems

from .every_provider import (
    ANTHROPIC_KEY,
    GEMINI_KEY,
    OPENAI_KEY,
    PROJECT,
    PROVIDERS,
    every_emulator,
    provider_environ,
    provider_fields,
)
from .schema_corpus import CORPUS


def _tool(name: str, schema: dict[str, Any]) -> Tool:
    async def run(**arguments: Any) -> str:
        return f"{name} ok {sorted(arguments)}"

    return Tool(
        spec=ToolSpec(name=name, description=f"the {name} tool", parameters=schema), function=run
    )


TOOLS = [_tool(name, schema) for name, schema in CORPUS.items()]


@pytest.mark.parametrize("dialect", ["json-schema", "gemini"])
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_normalised_schemas_pass_each_dialects_checks(name: str, dialect: str) -> None:
    original = CORPUS[name]
    snapshot = repr(original)
    assert schema_problems(normalise_schema(original, dialect), dialect) == []
    assert repr(original) == snapshot  # the original is untouched


def test_the_checks_refuse_what_the_apis_refuse() -> None:
    assert schema_problems(CORPUS["top_level_any_of"], "json-schema")
    assert schema_problems(
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/X"}}}, "json-schema"
    )
    for name in ("add_points", "nullable_types", "open_map", "read_text_file"):
        assert schema_problems(CORPUS[name], "gemini"), name


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, Any]]:
    with every_emulator() as running:
        yield running


@pytest.fixture
async def setup(
    make_router: Callable[..., Router], emulators: dict[str, Any]
) -> AsyncIterator[tuple[Router, str]]:
    env = provider_environ(emulators)
    router = make_router(
        plugins=[copass_router_anthropic, copass_router_google, copass_router_openai],
        environ=env,
        tools=TOOLS,
    )
    server = await router.start_dispatch_server()
    engine = emulators["google"].add_engine(
        display_name="schema-agent", dispatch_url=router.dispatch_url, project=PROJECT
    )
    yield router, engine
    await server.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_schema_reaches_every_provider(
    setup: tuple[Router, str], provider: str
) -> None:
    router, engine = setup
    run = await router.complete(
        message='/tool add_points {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 4}}',
        **provider_fields(provider, engine),
    )
    assert run.stop_reason is StopReason.END_TURN, (provider, run.errors)
    (result,) = run.tool_results
    assert result.output == "add_points ok ['a', 'b']" and not result.is_error
    # the provider was told of a looser schema; the original still decides
    bad = await router.complete(
        message='/tool read_text_file {"path": "/x", "extra": 1}',
        **provider_fields(provider, engine),
    )
    (refused,) = bad.tool_results
    assert refused.is_error and "invalid arguments" in refused.output, provider


async def test_the_emulators_refuse_raw_schemas_the_apis_refuse(emulators: dict[str, Any]) -> None:
    raw = CORPUS["top_level_any_of"]
    client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=emulators["openai"].base_url)
    with pytest.raises(openai.BadRequestError, match="Invalid schema"):
        await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "t", "parameters": raw}}],
        )
    await client.close()
    claude = anthropic.AsyncAnthropic(
        api_key=ANTHROPIC_KEY, base_url=emulators["anthropic"].base_url
    )
    with pytest.raises(anthropic.BadRequestError, match="top level"):
        await claude.beta.agents.create(
            model="claude-sonnet-4-6",
            name="raw",
            tools=[
                {
                    "type": "custom",
                    "name": "t",
                    "description": "t",
                    "input_schema": {"type": "object", **raw},
                }
            ],
        )
    await claude.close()


async def test_the_google_emulator_refuses_a_catalogue_gemini_refuses(
    emulators: dict[str, Any],
) -> None:
    import httpx
    from copass_router_google.contract import TOOLS_STATE_KEY

    engine = emulators["google"].add_engine(display_name="raw-schema", project=PROJECT)
    tools = [{"name": "add_points", "description": "", "parameters": CORPUS["add_points"]}]
    body = {
        "class_method": "async_stream_query",
        "input": {"message": "hi", "user_id": "u", "state_delta": {TOOLS_STATE_KEY: tools}},
    }
    async with httpx.AsyncClient(headers={"Authorization": "Bearer emulator-token"}) as client:
        url = f"{emulators['google'].base_url}/v1/{engine}:streamQuery?alt=sse"
        response = await client.post(url, json=body)
    assert response.status_code == 400 and "invalid schema" in response.text


async def test_the_interactions_emulator_refuses_a_schema_gemini_refuses(
    emulators: dict[str, Any],
) -> None:
    from copass_router_google.interactions_backend import API_VERSION
    from google import genai
    from google.genai import _interactions as sdk_errors

    options = {"base_url": emulators["gemini"].base_url, "api_version": API_VERSION}
    client = genai.Client(vertexai=False, api_key=GEMINI_KEY, http_options=options)
    tool = {"type": "function", "name": "add_points", "parameters": CORPUS["add_points"]}
    with pytest.raises(sdk_errors.BadRequestError, match="invalid schema"):
        await client.aio.interactions.create(model="gemini-2.5-flash", input="hi", tools=[tool])
