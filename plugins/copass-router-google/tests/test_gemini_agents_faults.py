"""``gemini-agents`` under the emulator kit's faults, and the emulator against the bare SDK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import types as genai_types

from copass_router import Error, Event, Message, Retry, Router, RunFinished, StopReason, TextDelta

from .conftest import GEMINI_KEY

PROVIDER = "gemini-agents"


async def run(router: Router, message: str, **kw: Any) -> list[Event]:
    kw.setdefault("end_user_id", "u-1")
    return [e async for e in router.run(provider=PROVIDER, message=message, **kw)]


def finished(events: list[Event]) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


@pytest.mark.parametrize("mode", ["drop", "eof"])
async def test_a_stream_cut_after_output_is_a_stream_cut_error_and_keeps_the_text(
    gemini_router: Router, interactions_emu: Any, mode: str
) -> None:
    interactions_emu.faults.cut_stream(after_events=4, mode=mode)
    events = await run(gemini_router, "one two three four five six")
    [error] = [e for e in events if isinstance(e, Error)]
    assert (error.code, error.retryable) == ("stream_cut", True)
    assert finished(events).stop_reason is StopReason.ERROR
    assert [e for e in events if isinstance(e, TextDelta)]  # what streamed is kept
    session_id = events[0].session_id  # type: ignore[attr-defined]
    again = await run(gemini_router, "/recall", session_id=session_id)
    assert finished(again).stop_reason is StopReason.END_TURN


async def test_a_cut_before_any_output_is_retried_by_the_core(
    gemini_router: Router, interactions_emu: Any
) -> None:
    interactions_emu.faults.cut_stream(after_events=1)  # only interaction.created got through
    events = await run(gemini_router, "through a cut")
    assert [e.code for e in events if isinstance(e, Retry)] == ["stream_cut"]
    assert "echo: through a cut" in "".join(e.text for e in events if isinstance(e, Message))
    # The interaction the cut left behind is cancelled at Gemini before the retry.
    assert len(interactions_emu.cancelled) == 1


async def test_a_429_with_retry_after_is_retried(
    gemini_router: Router, interactions_emu: Any
) -> None:
    interactions_emu.faults.fail_next(429, retry_after=0.01, path="/v1beta/interactions")
    events = await run(gemini_router, "after the limit")
    [retry] = [e for e in events if isinstance(e, Retry)]
    assert retry.code == "rate_limited"
    assert finished(events).stop_reason is StopReason.END_TURN


async def test_a_hung_api_ends_at_the_run_timeout(
    gemini_router: Router, interactions_emu: Any
) -> None:
    await run(gemini_router, "warm up")
    interactions_emu.faults.hang(3.0, path="/v1beta/interactions")
    started = time.monotonic()
    events = await run(gemini_router, "hello?", timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert finished(events).stop_reason in (StopReason.ERROR, StopReason.CANCELLED)
    assert [e.code for e in events if isinstance(e, Error)] == ["timeout"]


async def test_the_emulator_speaks_the_sdks_own_shapes(interactions_emu: Any) -> None:
    options = genai_types.HttpOptions(base_url=interactions_emu.base_url, api_version="v1beta")
    client = genai.Client(vertexai=False, api_key=GEMINI_KEY, http_options=options)
    api = client.aio.interactions
    made = await api.create(model="gemini-2.5-flash", input="hello there")
    assert made.status == "completed" and made.id
    fetched = await api.get(made.id)
    assert fetched.id == made.id
    await api.delete(made.id)
    with pytest.raises(sdk_errors.NotFoundError):
        await api.get(made.id)
    wrong = genai.Client(vertexai=False, api_key="wrong", http_options=options)
    with pytest.raises(sdk_errors.AuthenticationError):
        await wrong.aio.interactions.create(model="gemini-2.5-flash", input="hi")
    with pytest.raises(sdk_errors.NotFoundError):
        await api.create(model="no-such-model", input="hi")
    await client.aio.aclose()
    await wrong.aio.aclose()


def test_copass_router_emulate_starts_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = str(Path(sys.executable).parent / "copass-router")
    env = {k: v for k, v in os.environ.items() if k != "COPASS_ROUTER_LOAD_PLUGINS"}
    proc = subprocess.Popen(
        [exe, "emulate", PROVIDER, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1beta/agents",
                headers={"x-goog-api-key": "emulator-key"},
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert body == '{"agents":[]}'
    finally:
        proc.terminate()
        proc.wait(timeout=10)
