"""Provider options cannot override the fields the router owns.

openai's ``options.extra_body`` is merged over the request by the SDK, so unchecked it could
set ``safety_identifier`` to another tenant's digest or replace ``model`` and
``max_completion_tokens``. Driven here through the real openai SDK against the plugin's
emulator; anthropic and google options are checked for the same hole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import copass_router_anthropic
import copass_router_google
import copass_router_openai
import pytest
from copass_router_anthropic.resources import AgentSpec
from copass_router_openai.backend import ROUTER_OWNED
from copass_router_openai.emulator import OpenAIEmulator, running_emulator

from copass_router import InvalidRequestError, RunFinished

from .conftest import make_router

API_KEY = "sk-test-emulator-0123456789"


@pytest.fixture(scope="module")
def emulator() -> Iterator[OpenAIEmulator]:
    with running_emulator(api_key=API_KEY) as emu:
        yield emu


def _env(emulator: OpenAIEmulator) -> dict[str, str]:
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": emulator.base_url}


@pytest.mark.parametrize(
    "field", ["safety_identifier", "model", "max_completion_tokens", "messages", "tools", "stream"]
)
async def test_extra_body_cannot_set_a_router_owned_field(
    emulator: OpenAIEmulator, field: str
) -> None:
    emulator.reset()
    async with make_router(copass_router_openai, environ=_env(emulator)) as router:
        with pytest.raises(InvalidRequestError) as refused:
            async for _ in router.run(
                provider="openai",
                message="hi",
                end_user_id="u-1",
                options={"extra_body": {field: "x", "keep_alive": "5m"}},
            ):
                pass
    assert refused.value.field == f"options.extra_body.{field}"
    assert field in str(refused.value)
    assert emulator.chat_requests() == []  # nothing was sent


async def test_other_extra_body_fields_pass_and_the_safety_identifier_stays(
    emulator: OpenAIEmulator,
) -> None:
    emulator.reset()
    async with make_router(copass_router_openai, environ=_env(emulator)) as router:
        events = [
            e
            async for e in router.run(
                provider="openai",
                message="hi",
                end_user_id="u-1",
                options={"extra_body": {"keep_alive": "5m"}},
            )
        ]
    assert isinstance(events[-1], RunFinished)
    (sent,) = emulator.chat_requests()
    assert sent.body["keep_alive"] == "5m"
    assert sent.body["safety_identifier"] == hashlib.sha256(b"u-1").hexdigest()[:32]
    assert sent.body["model"] == "gpt-4o-mini"


def test_the_owned_set_covers_what_the_issue_found() -> None:
    assert {"safety_identifier", "model", "max_completion_tokens", "user"} <= ROUTER_OWNED


def test_anthropic_toolset_options_cannot_change_the_tool_type() -> None:
    spec = AgentSpec.for_run(
        "claude-opus-4-7", None, (), {"agent_toolset": {"type": "custom", "name": "x"}}
    )
    assert [t["type"] for t in spec.tools] == ["agent_toolset_20260401"]
    body = spec.create_body()
    assert body["model"] == "claude-opus-4-7"
    assert body["metadata"] == {"copass_router_fingerprint": spec.fingerprint}


async def test_anthropic_and_google_refuse_options_they_do_not_own() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-api03-TESTKEY0123456789abcdefABCDEF"}
    async with make_router(copass_router_anthropic, copass_router_google, environ=env) as router:
        for provider, extra in (("anthropic", {}), ("google", {"reasoning_engine_id": "1"})):
            for option in ("model", "system", "metadata", "extra_body"):
                with pytest.raises(InvalidRequestError):
                    async for _ in router.run(
                        provider=provider, message="hi", options={option: "x"}, **extra
                    ):
                        pass


@pytest.mark.parametrize(
    ("environ", "settings"),
    [
        ({"COPASS_ANTHROPIC_TOOL_PERMISSION": "deny"}, None),
        ({}, {"anthropic": {"permission_policy": lambda request: request.name != "bash"}}),
    ],
    ids=["environment", "code"],
)
async def test_a_run_option_cannot_loosen_the_operators_tool_permission(
    environ: dict[str, str], settings: dict[str, object] | None
) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-api03-TESTKEY0123456789abcdefABCDEF", **environ}
    async with make_router(
        copass_router_anthropic, environ=env, provider_settings=settings
    ) as router:
        with pytest.raises(InvalidRequestError) as refused:
            async for _ in router.run(
                provider="anthropic", message="hi", options={"tool_permission": "allow"}
            ):
                pass
    assert "operator" in str(refused.value)


@pytest.mark.parametrize(
    "options",
    [
        {"include_usage": False},
        {"extra_body": {"service_tier": "priority"}},
        {"extra_body": {"store": True}},
        {"max_tokens": 10**12},
    ],
    ids=["include_usage", "service_tier", "store", "max_tokens"],
)
@pytest.mark.parametrize("provider", ["openai", "openai-compatible"])
async def test_options_that_change_cost_or_metering_are_refused(
    emulator: OpenAIEmulator, options: dict[str, object], provider: str
) -> None:
    emulator.reset()
    env = {
        **_env(emulator),
        "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emulator.base_url,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": API_KEY,
    }
    async with make_router(copass_router_openai, environ=env) as router:
        with pytest.raises(InvalidRequestError):
            async for _ in router.run(provider=provider, message="hi", options=options):
                pass
    assert emulator.chat_requests() == []  # nothing was sent


async def test_an_operator_may_raise_the_token_ceiling(emulator: OpenAIEmulator) -> None:
    emulator.reset()
    env = {**_env(emulator), "COPASS_ROUTER_OPENAI_MAX_TOKENS": "200000"}
    async with make_router(copass_router_openai, environ=env) as router:
        events = [
            e async for e in router.run(provider="openai", message="hi", max_output_tokens=150_000)
        ]
    assert isinstance(events[-1], RunFinished)
    (sent,) = emulator.chat_requests()
    assert sent.body["max_completion_tokens"] == 150_000


async def test_the_token_ceiling_bounds_max_output_tokens(emulator: OpenAIEmulator) -> None:
    emulator.reset()
    async with make_router(copass_router_openai, environ=_env(emulator)) as router:
        with pytest.raises(InvalidRequestError, match="operator's ceiling") as refused:
            async for _ in router.run(provider="openai", message="hi", max_output_tokens=500_000):
                pass
    assert refused.value.field == "max_output_tokens"
    assert emulator.chat_requests() == []
