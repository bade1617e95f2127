"""The Copass SDK's deploy call works here: ``copass_api_url`` names the router, the result has
``.resource_name``, and ``copass_api_key`` is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from copass_router_google import deploy_adk_agent
from copass_router_google.deploy import DeployedAgent, dispatch_endpoint, static_token_credentials
from copass_router_google.emulator import GoogleEmulator


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_copass_keywords_deploy_and_the_engine_has_a_resource_name(
    fresh_emulator: GoogleEmulator, in_tmp: Path
) -> None:
    engine = deploy_adk_agent(
        display_name="support-agent",
        project="my-gcp-project",
        system_prompt="You are a support agent...",
        copass_api_url="http://127.0.0.1:9",
        credentials=static_token_credentials("t"),
        base_url=fresh_emulator.base_url,
    )
    assert isinstance(engine, DeployedAgent) and isinstance(engine, str)
    assert engine.resource_name == str(engine) and engine.resource_name in fresh_emulator.engines
    assert engine.resource_name.endswith(f"/reasoningEngines/{engine.engine_id}")
    spec = fresh_emulator.requests_to("create")[0].body["spec"]
    env = {e["name"]: e["value"] for e in spec["deployment_spec"]["env"]}
    assert env["COPASS_ROUTER_DISPATCH_URL"] == "http://127.0.0.1:9/v1/dispatch"


def test_an_api_key_is_refused_before_anything_is_deployed(
    fresh_emulator: GoogleEmulator, in_tmp: Path
) -> None:
    with pytest.raises(ValueError, match="nothing long-lived is deployed") as raised:
        deploy_adk_agent(
            display_name="support-agent",
            project="p",
            system_prompt="s",
            copass_api_url="https://router.example.com",
            copass_api_key="olk_secret_value",
            base_url=fresh_emulator.base_url,
        )
    assert "run-scoped token" in str(raised.value)
    assert "olk_secret_value" not in str(raised.value)
    assert fresh_emulator.requests_to("create") == []


@pytest.mark.parametrize(
    ("router_url", "copass_api_url", "endpoint"),
    [
        ("https://r.example.com/v1/dispatch", None, "https://r.example.com/v1/dispatch"),
        (None, "https://r.example.com", "https://r.example.com/v1/dispatch"),
        (None, "https://r.example.com/", "https://r.example.com/v1/dispatch"),
        (
            None,
            "https://r.example.com/agents/v1/dispatch",
            "https://r.example.com/agents/v1/dispatch",
        ),
    ],
)
def test_the_dispatch_endpoint(
    router_url: str | None, copass_api_url: str | None, endpoint: str
) -> None:
    assert dispatch_endpoint(router_url, copass_api_url) == endpoint


@pytest.mark.parametrize(
    ("router_url", "copass_api_url", "says"),
    [
        ("https://a/v1/dispatch", "https://b", "not both"),
        (None, None, "router_url is required"),
        (None, "ftp://nope", "must be an http"),
    ],
)
def test_a_bad_router_address_is_refused(
    router_url: str | None, copass_api_url: str | None, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        dispatch_endpoint(router_url, copass_api_url)
