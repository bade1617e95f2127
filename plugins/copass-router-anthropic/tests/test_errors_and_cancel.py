"""Configuration and API errors (never leaking the key), cancellation, and import weight."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import Callable

import pytest
from copass_router_anthropic.emulator import EmulatorServer

from copass_router import (
    ConfigurationError,
    Error,
    InvalidRequestError,
    Router,
    RunStarted,
    StopReason,
    ToolCall,
    TurnStatus,
    event_to_json,
    tool,
)

from .conftest import API_KEY


async def test_missing_api_key_fails_before_any_request(
    make_anthropic_router: Callable[..., Router], emulator: EmulatorServer
) -> None:
    router = make_anthropic_router(ANTHROPIC_API_KEY="")
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        async for _ in router.run(provider="anthropic", message="hi"):
            pass
    assert len(emulator.requests) == 0


async def test_unknown_options_and_fields_are_refused(anthropic_router: Router) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await anthropic_router.complete(provider="anthropic", message="x", options={"temp": 1})
    assert caught.value.field == "options"
    with pytest.raises(InvalidRequestError) as caught:
        await anthropic_router.complete(provider="anthropic", message="x", location="us")
    assert caught.value.field == "location"


async def test_a_rejected_key_is_an_error_that_never_shows_the_key(
    make_anthropic_router: Callable[..., Router],
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "sk-ant-api03-WRONGKEY9876543210zyxwvuZYXWVU"
    caplog.set_level(logging.DEBUG)
    router = make_anthropic_router(ANTHROPIC_API_KEY=wrong)
    events = [e async for e in router.run(provider="anthropic", message="hi")]
    (error,) = [e for e in events if isinstance(e, Error)]
    assert error.code == "authentication_failed" and not error.retryable
    assert error.detail["status"] == 401 and error.detail["request_id"]
    assert events[-1].stop_reason is StopReason.ERROR
    wire = "".join(event_to_json(e) for e in events)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("copass_router")]
    for secret in (wrong, API_KEY):
        assert secret not in wire
        assert not any(secret in line for line in ours)


async def test_breaking_out_interrupts_and_keeps_usage_so_far(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    release = asyncio.Event()

    @tool
    async def wait_forever(reason: str) -> str:
        """Never returns on its own."""
        await release.wait()
        return "released"

    session_id = ""
    stream = anthropic_router.run(
        provider="anthropic", message='/tool wait_forever {"reason": "r"}', tools=[wait_forever]
    )
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, RunStarted):
                session_id = event.session_id
            if isinstance(event, ToolCall):
                break
    assert emulator.state.interrupts == 1
    assert emulator.state.sent_events("user.interrupt") == [{"type": "user.interrupt"}]
    turns = await anthropic_router.transcript(session_id, "local")
    assert turns[-1].status is TurnStatus.CANCELLED
    assert turns[-1].usage.input_tokens > 0
    (native,) = emulator.state.sessions.values()
    for _ in range(100):  # the emulator hands control back right after the interrupt
        if native["status"] == "idle":
            break
        await asyncio.sleep(0.01)
    assert native["status"] == "idle"


def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, copass_router, copass_router_anthropic\n"
        "heavy = [m for m in ('anthropic', 'httpx2', 'starlette', 'uvicorn') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_a_malformed_setting_is_a_configuration_error_naming_it(
    make_anthropic_router: Callable[..., Router],
) -> None:
    router = make_anthropic_router(ANTHROPIC_MAX_RETRIES="two")
    with pytest.raises(ConfigurationError, match="ANTHROPIC_MAX_RETRIES must be a whole number"):
        async for _ in router.run(provider="anthropic", message="hi"):
            pass
