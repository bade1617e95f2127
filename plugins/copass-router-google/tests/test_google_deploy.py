"""Deploy through the real client library: inline source, a long-running operation, the CLI."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
from copass_router_google import deploy_adk_agent
from copass_router_google.cli import main as cli_main
from copass_router_google.deploy import make_client, static_token_credentials
from copass_router_google.emulator import GoogleEmulator, kind_of

ROUTER = "http://127.0.0.1:9/v1/dispatch"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def deploy(emulator: GoogleEmulator, prompt: str = "You book meetings. {Braces} stay.") -> str:
    return deploy_adk_agent(
        "scheduling-agent",
        "proj-1",
        prompt,
        ROUTER,
        location="europe-west4",
        model="gemini-3.1-flash",
        credentials=static_token_credentials("deploy-token"),
        base_url=emulator.base_url,
    )


def test_deploy_returns_the_resource_name(fresh_emulator: GoogleEmulator, in_tmp: Path) -> None:
    name = deploy(fresh_emulator)
    assert name.startswith("projects/proj-1/locations/europe-west4/reasoningEngines/")
    kinds = [kind_of(r) for r in fresh_emulator.requests]
    assert kinds == ["create", "operation"]  # created, then the operation polled until done
    create = fresh_emulator.requests_to("create")[0]
    assert create.path == "/v1beta1/projects/proj-1/locations/europe-west4/reasoningEngines"
    spec = create.body["spec"]
    python = spec["source_code_spec"]["python_spec"]
    assert python["entrypoint_object"] == "app"
    env = {e["name"]: e["value"] for e in spec["deployment_spec"]["env"]}
    assert env["COPASS_ROUTER_DISPATCH_URL"] == ROUTER
    assert "token" not in str(env).lower() and "secret" not in str(env).lower()
    assert list(in_tmp.iterdir()) == []  # the generated package was cleaned up
    # The archive is the generated entry module plus the requirements the runtime installs.
    archive = base64.urlsafe_b64decode(spec["source_code_spec"]["inline_source"]["source_archive"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
        package = python["entrypoint_module"].removesuffix(".agent")
        entry = files[f"{package}/agent.py"].read().decode()  # type: ignore[union-attr]
        requirements = files[f"{package}/requirements.txt"].read().decode()  # type: ignore[union-attr]
    assert "from copass_router_google.agent_app import build_app" in entry
    assert "'gemini-3.1-flash'" in entry and "{Braces} stay." in entry
    assert "copass-router-google" in requirements
    assert python["requirements_file"] == f"{package}/requirements.txt"


def test_deployed_engine_publishes_its_class_methods(
    fresh_emulator: GoogleEmulator, in_tmp: Path
) -> None:
    name = deploy(fresh_emulator)
    client = make_client(
        project="proj-1",
        location="europe-west4",
        credentials=static_token_credentials("t"),
        base_url=fresh_emulator.base_url,
    )
    runtime = client.runtimes.get(name=name)
    methods = {m["name"]: m["api_mode"] for m in runtime.api_resource.spec.class_methods}
    assert methods["async_stream_query"] == "async_stream"
    assert methods["async_create_session"] == "async"
    assert callable(runtime.async_stream_query)
    engine = fresh_emulator.engines[name]
    agent = engine.app._tmpl_attrs["agent"]
    assert agent.name == "scheduling_agent" and agent.model.model == "gemini-3.1-flash"


def test_cli_deploy_prints_the_resource_name(
    fresh_emulator: GoogleEmulator,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COPASS_ROUTER_GOOGLE_ACCESS_TOKEN", "cli-token")
    monkeypatch.setenv("COPASS_ROUTER_GOOGLE_BASE_URL", fresh_emulator.base_url)
    prompt = in_tmp / "prompt.txt"
    prompt.write_text("You answer billing questions.")
    status = cli_main(
        [
            "deploy",
            "billing-agent",
            "--project",
            "proj-2",
            "--system-prompt-file",
            str(prompt),
            "--router-url",
            ROUTER,
        ]
    )
    out = capsys.readouterr().out.strip()
    assert status == 0
    assert out.startswith("projects/proj-2/locations/") and out in fresh_emulator.engines
    create = fresh_emulator.requests_to("create")[0]
    assert create.sent("authorization", "Bearer cli-token")
    assert create.body["displayName"] == "billing-agent"


def test_cli_reports_missing_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    status = cli_main(["deploy", "x", "--system-prompt", "p", "--router-url", ROUTER])
    assert status == 2 and "--project" in capsys.readouterr().err


def test_deploy_rejects_a_non_http_router_url() -> None:
    with pytest.raises(ValueError, match="router_url"):
        deploy_adk_agent("a", "p", "prompt", "ftp://nope")


def test_the_agent_pickles_the_proxy_tool_by_reference() -> None:
    import pickle

    from copass_router_google import agent_app, proxy_tool
    from copass_router_google.agent_app import build_app

    data = pickle.dumps(build_app(display_name="support-agent", system_prompt="Hi {there}"))
    assert b"copass_router_google.proxy_tool" in data and b"copass_dispatch" in data
    agent = pickle.loads(data)._tmpl_attrs["agent"]
    assert agent.tools == [proxy_tool.copass_dispatch]  # so the runtime must install the plugin
    assert b"apply_run_model" in data and agent.before_model_callback is agent_app.apply_run_model
