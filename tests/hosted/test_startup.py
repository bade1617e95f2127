"""A hosted worker's start-up: every plugin's ``copass_router_prepare`` runs, off the event loop,
before the worker serves; one that fails does not stop the worker."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from copass_router import Router, hookimpl
from copass_router.server._startup import prepare


async def test_every_plugin_prepares_in_a_thread_with_the_server_s_environment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[str, str | None, bool]] = []

    class Broken:
        @hookimpl
        def copass_router_prepare(self) -> None:
            raise RuntimeError("the SDK is not installed")

    class Provider:
        @hookimpl
        def copass_router_prepare(self, environ: Mapping[str, str]) -> None:
            on_main = threading.current_thread() is threading.main_thread()
            calls.append(("provider", environ.get("ACME_API_KEY"), on_main))

    router = Router(
        store=":memory:",
        environ={"ACME_API_KEY": "acme-key"},
        plugins=[Broken(), Provider()],
        load_entry_points=False,
    )
    try:
        await prepare(router)
    finally:
        await router.aclose()
    assert calls == [("provider", "acme-key", False)]
    assert "plugin_prepare_failed" in caplog.text and "the SDK is not installed" in caplog.text


async def test_an_embedded_router_never_prepares() -> None:
    called: list[str] = []

    class Provider:
        @hookimpl
        def copass_router_prepare(self) -> None:
            called.append("prepare")

    async with Router(store=":memory:", environ={}, plugins=[Provider()]) as router:
        result = await router.complete(provider="echo", message="hi")
    assert result.text and called == []
