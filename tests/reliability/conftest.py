"""The fault suite's rig: the three provider emulators, a router wired to every provider, the
fault switches of each emulator behind one interface, and the check that follows every fault.

The emulators live for the whole run (starting ADK is slow); each test gets a fresh router (an
in-memory store, its own dispatch endpoint and, on first use, its own deployed Google agent)
and emulators whose switches, logs and counters are reset. Every turn is bounded twice: by the
run's own ``timeout=`` and by an asyncio timeout around the whole stream, so no fault can hang
the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import copass_router_anthropic
import copass_router_google
import copass_router_openai
import pytest
from copass_router_anthropic.emulator import EmulatorServer
from copass_router_anthropic.emulator import running_emulator as anthropic_emulator
from copass_router_google.emulator import GoogleEmulator
from copass_router_google.emulator import running_emulator as google_emulator
from copass_router_openai.emulator import OpenAIEmulator
from copass_router_openai.emulator import running_emulator as openai_emulator

from copass_router import (
    Error,
    Event,
    Message,
    RetryPolicy,
    Router,
    RunFinished,
    RunStarted,
    StopReason,
    TextDelta,
    TokenCounts,
    Tool,
    ToolResult,
    TurnStatus,
    Usage,
)
from copass_router.testing import Faults

from .fault_tools import Tools

#: Every provider of the suite; ``echo`` has no HTTP, so only some faults apply to it.
PROVIDERS = ("echo", "anthropic", "google", "openai-compatible")
NETWORKED = PROVIDERS[1:]
ANTHROPIC_KEY = "sk-ant-api03-RELIABLE0123456789abcdef"
OPENAI_KEY = "sk-reliable-0123456789abcdef"
PROJECT = "reliability-project"
USER = "reliant"
#: Retries the core makes before a refused request becomes the run's Error.
RETRY_BUDGET = 2
#: The run's own bound on a turn (``timeout=``), and the suite's outer bound on any stream.
TURN_TIMEOUT = 10.0
HARD_LIMIT = 20.0


async def eventually(check: Callable[[], bool], seconds: float = 1.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (polled; for effects in other threads)."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


class Emulators:
    """The three emulators, with what a test reads from them since the last reset."""

    def __init__(
        self, anthropic: EmulatorServer, google: GoogleEmulator, openai: OpenAIEmulator
    ) -> None:
        self.anthropic, self.google, self.openai = anthropic, google, openai
        self._interrupts = 0

    def reset(self) -> None:
        """Forget logs, counters and pending faults (deployed agents and sessions stay)."""
        self.anthropic.reset()
        self._interrupts = self.anthropic.state.interrupts
        self.google.reset()
        self.openai.reset()

    # --- what a provider received --------------------------------------------------------

    def turn_requests(self, provider: str) -> list[Any]:
        """The requests that start a model turn (retries included), oldest first.

        Anthropic: POSTs of a ``user.message`` to a session; Google: ``:streamQuery``; OpenAI:
        chat completions.
        """
        if provider == "anthropic":
            return [
                r
                for r in self.anthropic.state.requests_to("POST", "/v1/sessions/")
                if r.path.endswith("/events")
                and any(e.get("type") == "user.message" for e in (r.body or {}).get("events", []))
            ]
        if provider == "google":
            return self.google.requests_to("stream")
        if provider.startswith("openai"):
            return self.openai.chat_requests()
        return []

    def received(self, provider: str) -> str:
        """Every request body the provider received since the reset, as one JSON text."""
        if provider == "anthropic":
            bodies = [r.body for r in self.anthropic.requests]
        elif provider == "google":
            bodies = [r.body for r in self.google.requests]
        else:
            bodies = [r.body for r in self.openai.requests]
        return json.dumps(bodies, default=str)

    def provider_cancelled(self, provider: str) -> bool:
        """Whether the provider saw its turn cancelled since the reset (Anthropic: a
        ``user.interrupt``; Google and OpenAI: the stream closed before its end; echo runs in
        the router's own task, so cancelling the turn cancels it)."""
        if provider == "anthropic":
            interrupts = self.anthropic.state.sent_events("user.interrupt")
            return bool(interrupts) and self.anthropic.state.interrupts > self._interrupts
        if provider == "google":
            return self.google.streams.abandoned > 0
        if provider.startswith("openai"):
            return self.openai.streams.abandoned > 0
        return True

    # --- fault switches ------------------------------------------------------------------

    def refuse(
        self, provider: str, status: int, *, count: int, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` turn-starting requests with ``status``."""
        # The same fault API on every emulator; only where a turn starts differs.
        method, path = {
            "anthropic": ("POST", "/v1/sessions/*"),
            "google": ("POST", "*:streamQuery"),
        }.get(provider, (None, None))
        self.faults(provider).fail_next(
            status, count=count, method=method, path=path, retry_after=retry_after
        )

    def cut_stream(self, provider: str, *, every_time: bool = False) -> None:
        """Drop the provider's event stream mid-turn (Anthropic: ``every_time`` keeps cutting
        the reconnected streams too)."""
        after = {"anthropic": 5, "google": 2}.get(provider, 3)
        count = 10 if every_time and provider == "anthropic" else 1
        self.faults(provider).cut_stream(after_events=after, count=count)

    def faults(self, provider: str) -> Faults:
        """The fault switches of the provider's emulator."""
        if provider == "anthropic":
            return self.anthropic.faults
        return self.google.faults if provider == "google" else self.openai.faults


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    """The Anthropic, Google and OpenAI emulators for the whole run."""
    with (
        anthropic_emulator(api_key=ANTHROPIC_KEY, create_limit=100_000) as anthropic,
        google_emulator() as google,
        openai_emulator(api_key=OPENAI_KEY) as openai,
    ):
        yield Emulators(anthropic, google, openai)


class Outcome:
    """A finished turn's events, summarised."""

    def __init__(self, events: list[Event]) -> None:
        assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
        self.events = events
        self.started: RunStarted = events[0]
        self.finished: RunFinished = events[-1]
        self.session_id = self.started.session_id
        self.stop_reason = self.finished.stop_reason
        self.errors = [e for e in events if isinstance(e, Error)]
        self.tool_results = [e for e in events if isinstance(e, ToolResult)]
        self.text = "\n".join(e.text for e in events if isinstance(e, Message))
        self.streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
        self.usage = sum(
            (e.as_token_usage() for e in events if isinstance(e, Usage)), TokenCounts()
        )


class Rig:
    """One router wired to every provider, the emulators behind it and the run helpers."""

    def __init__(self, router: Router, emulators: Emulators, tools: Tools) -> None:
        self.router = router
        self.emulators = emulators
        self.tools = tools
        self.engine = ""
        self._dispatch_server: Any = None

    async def deploy_google_agent(self) -> str:
        """Serve this router's dispatch endpoint and deploy a Google agent that calls it back
        (once; only tests that use Google pay for it)."""
        if not self.engine:
            self._dispatch_server = await self.router.start_dispatch_server()
            self.engine = self.emulators.google.add_engine(
                display_name="reliability-agent",
                dispatch_url=self.router.dispatch_url,
                project=PROJECT,
            )
        return self.engine

    async def aclose(self) -> None:
        """Let stalled tools return, then stop the dispatch endpoint."""
        self.tools.release.set()
        self.tools.gate.set()
        if self._dispatch_server is not None:
            await self._dispatch_server.aclose()

    def fields(self, provider: str) -> dict[str, Any]:
        """What ``run()`` needs besides the message for ``provider``."""
        fields: dict[str, Any] = {"provider": provider, "end_user_id": USER}
        if provider == "google":
            fields["reasoning_engine_id"] = self.engine
        if provider.startswith("openai"):
            fields["model"] = "gpt-4o-mini"
        return fields

    async def run(
        self,
        provider: str,
        message: str,
        session_id: str | None = None,
        *,
        tools: Iterable[Tool] = (),
        turn_timeout: float = TURN_TIMEOUT,
    ) -> list[Event]:
        """One turn's events, bounded by ``timeout=`` and by the suite's outer limit."""
        if provider == "google":
            await self.deploy_google_agent()
        stream = self.router.run(
            message=message,
            session_id=session_id,
            tools=[self.tools.lookup(), *tools],
            timeout=turn_timeout,
            **self.fields(provider),
        )
        async with asyncio.timeout(HARD_LIMIT), contextlib.aclosing(stream):
            return [event async for event in stream]

    async def complete(
        self, provider: str, message: str, session_id: str | None = None, **extra: Any
    ) -> Outcome:
        """One turn, collected."""
        return Outcome(await self.run(provider, message, session_id, **extra))

    async def warm_up(self, provider: str) -> tuple[str, list[str]]:
        """A completed first turn with a tool call; its session id and the user messages so far."""
        message = '/tool lookup {"key": "before"}'
        first = await self.complete(provider, message)
        assert first.stop_reason is StopReason.END_TURN, first.errors
        assert [r.output for r in first.tool_results] == ["value-before"]
        self.emulators.reset()  # what follows is the fault's alone
        return first.session_id, [message]

    async def assert_recovers(
        self,
        provider: str,
        session_id: str,
        before: list[str],
        faulted: str,
        status: TurnStatus,
    ) -> Outcome:
        """After a fault: the earlier turns are intact, the faulted turn is recorded with its
        user message and ``status``, and the next turn on the session works and sees them all."""
        turns = await self.router.transcript(session_id, USER)
        assert [t.user for t in turns] == [*before, faulted]
        assert all(t.status is TurnStatus.COMPLETED for t in turns[:-1])
        assert turns[-1].status is status, (turns[-1].status, turns[-1].provider_data)
        after = await self.complete(provider, "/recall", session_id)
        assert after.stop_reason is StopReason.END_TURN, after.errors
        for message in [*before, faulted]:
            assert f"user: {message}" in after.text, f"{provider} lost {message!r}:\n{after.text}"
        assert "value-before" in after.text  # the first turn's tool result too
        turns = await self.router.transcript(session_id, USER)
        assert turns[-1].status is TurnStatus.COMPLETED
        return after


@pytest.fixture
def tools() -> Iterator[Tools]:
    made = Tools()
    yield made
    made.release.set()


@pytest.fixture
async def rig(
    make_router: Callable[..., Router], emulators: Emulators, tools: Tools
) -> AsyncIterator[Rig]:
    """A router wired to every provider (through the real SDKs to the emulators)."""
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": emulators.anthropic.base_url,
        "COPASS_ROUTER_GOOGLE_BASE_URL": emulators.google.base_url,
        "COPASS_ROUTER_GOOGLE_ACCESS_TOKEN": "emulator-token",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_BASE_URL": emulators.openai.base_url,
        "COPASS_ROUTER_OPENAI_COMPATIBLE_API_KEY": OPENAI_KEY,
    }
    plugins = [copass_router_anthropic, copass_router_google, copass_router_openai]
    emulators.reset()
    # The core retries (the SDKs' own retries are off by default).
    policy = RetryPolicy(max_retries=RETRY_BUDGET, initial_delay=0.01)
    rig = Rig(make_router(plugins=plugins, environ=env, retry_policy=policy), emulators, tools)
    try:
        yield rig
    finally:
        await rig.aclose()
