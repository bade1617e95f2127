"""A google run on a machine without Google credentials: a configuration error, before the turn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import copass_router_google
import httpx
import pytest
from copass_router_google.emulator import GoogleEmulator

from copass_router import ConfigurationError, Router
from copass_router.server import create_app

from .conftest import PROJECT, google_environ


async def test_a_run_without_credentials_is_a_configuration_error_naming_the_fix(
    make_router: Callable[..., Router],
    fresh_emulator: GoogleEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No token, no GOOGLE_APPLICATION_CREDENTIALS, no gcloud login, not on Google Cloud.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    environ = google_environ(fresh_emulator)
    del environ["COPASS_ROUTER_GOOGLE_ACCESS_TOKEN"]
    router = make_router(plugins=[copass_router_google], environ=environ)
    engine = fresh_emulator.add_engine(display_name="agent", project=PROJECT)
    with pytest.raises(ConfigurationError) as caught:
        async for _ in router.run(provider="google", reasoning_engine_id=engine, message="hi"):
            pass
    message = str(caught.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN" in message
    assert "Traceback" not in message and "\n" not in message


async def test_hosted_a_run_without_credentials_answers_503_configuration_error(
    make_router: Callable[..., Router],
    fresh_emulator: GoogleEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    environ = google_environ(fresh_emulator)
    del environ["COPASS_ROUTER_GOOGLE_ACCESS_TOKEN"]
    router = make_router(plugins=[copass_router_google], environ=environ)
    engine = fresh_emulator.add_engine(display_name="agent", project=PROJECT)
    key = "k" * 32
    app = create_app(router, api_keys=[key])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        answer = await client.post(
            "/v1/runs",
            headers={"Authorization": f"Bearer {key}"},
            json={"provider": "google", "reasoning_engine_id": engine, "message": "hi"},
        )
    assert answer.status_code == 503
    assert answer.json()["code"] == "configuration_error"
