"""The backend conformance suite: the contract every provider backend must keep.

Subclass :class:`BackendConformance` in a plugin's tests, set ``provider`` (and ``model`` if the
backend has no default; ``alternate_model`` to a second model it serves), and override two
fixtures: ``conformance_router`` returns a Router that reaches the backend (e.g. pointed at the
plugin's emulator), ``conformance_emulator`` returns an :class:`EmulatorProbe` on that emulator
(or None for a provider with no HTTP API: the fault tests then skip).

What the suite needs from the provider's model: it follows the scripted-model syntax
(:func:`copass_router.testing.scripted_reply`), as every emulator built on the kit does. The
suite uses ``/tool``, ``/loop``, ``/error CODE``, ``/slow``, ``/recall``, ``/whoami`` and
``/settings`` (docs/scripted-model.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from copass_router._events import (
    Error,
    Event,
    Message,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    event_from_json,
    event_to_json,
)
from copass_router._types import StopReason, TurnStatus
from copass_router.provider_kit._retries import RetryPolicy
from copass_router.run._router import Router
from copass_router.testing._conformance_contract import (
    ContractTests,
    EmulatorProbe,
    KitProbe,
    conformance_lookup,
)
from copass_router.testing._conformance_fields import FieldTests
from copass_router.testing._conformance_generation import GenerationTests
from copass_router.testing._conformance_parts import PartsTests
from copass_router.testing._stream_grammar import StreamChecker

__all__ = ["BackendConformance", "EmulatorProbe", "KitProbe", "conformance_lookup"]

#: Fast retries, so the fault tests see the core retry without waiting for it.
KIT_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05)


class BackendConformance(ContractTests, FieldTests, GenerationTests, PartsTests):
    """Tests every backend must pass. See the module docstring for how to use it."""

    provider: ClassVar[str] = ""
    model: ClassVar[str | None] = None
    #: A second model the provider serves (for the per-run model test); default: ``model``.
    alternate_model: ClassVar[str | None] = None
    end_user_id: ClassVar[str] = "conformance-user"

    @pytest.fixture
    def conformance_router(self) -> Router:
        """Override: a Router that runs this backend."""
        raise NotImplementedError("override the conformance_router fixture")

    @pytest.fixture
    def conformance_emulator(self) -> EmulatorProbe | None:
        """Override: an :class:`EmulatorProbe` on the provider's emulator, or None when the
        provider has no HTTP API (the fault and cancellation tests then skip)."""
        raise NotImplementedError(
            "override the conformance_emulator fixture: return an EmulatorProbe on your "
            "emulator (copass_router.testing.EmulatorProbe), or None for a provider with no "
            "HTTP API"
        )

    def run_kwargs(self) -> dict[str, Any]:
        """Extra ``run()`` fields this provider needs (e.g. its required provider fields)."""
        return {}

    def _fields(self, message: str | Sequence[Any], **extra: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "provider": self.provider,
            "message": message,
            "end_user_id": self.end_user_id,
            **self.run_kwargs(),
        }
        if self.model:
            fields["model"] = self.model
        fields.update(extra)
        return fields

    async def _events(
        self, router: Router, message: str | Sequence[Any], **extra: Any
    ) -> list[Event]:
        router.retry_policy = KIT_RETRIES
        checker = StreamChecker(f"provider {self.provider!r}, message {message!r}")
        async for event in router.run(**self._fields(message, **extra)):
            checker.feed(event)
        checker.finish()
        return checker.events

    # -- the event contract ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_text_turn_event_order(self, conformance_router: Router) -> None:
        events = await self._events(conformance_router, "hello conformance")
        assert isinstance(events[0], RunStarted)
        assert isinstance(events[-1], RunFinished)
        assert sum(isinstance(e, RunFinished) for e in events) == 1
        assert [e.seq for e in events] == list(range(len(events)))
        assert {e.run_id for e in events} == {events[0].run_id}
        assert events[-1].stop_reason is StopReason.END_TURN
        assert events[-1].session_id == events[0].session_id
        deltas = "".join(e.text for e in events if isinstance(e, TextDelta))
        messages = [e.text for e in events if isinstance(e, Message)]
        assert "hello conformance" in deltas
        assert messages and "".join(messages) == deltas

    @pytest.mark.asyncio
    async def test_usage_is_reported(self, conformance_router: Router) -> None:
        events = await self._events(conformance_router, "count my tokens please")
        usage = events[-1].usage  # type: ignore[attr-defined]
        assert usage.input_tokens > 0
        assert usage.output_tokens > 0

    @pytest.mark.asyncio
    async def test_tool_round_trip(self, conformance_router: Router) -> None:
        events = await self._events(
            conformance_router,
            '/tool conformance_lookup {"key": "k1"}',
            tools=[conformance_lookup],
        )
        calls = [e for e in events if isinstance(e, ToolCall)]
        results = [e for e in events if isinstance(e, ToolResult)]
        assert [(c.name, dict(c.arguments)) for c in calls] == [
            ("conformance_lookup", {"key": "k1"})
        ]
        assert len(results) == 1 and not results[0].is_error
        assert results[0].call_id == calls[0].call_id
        assert "value-of-k1" in results[0].output
        assert events.index(calls[0]) < events.index(results[0])
        text = "".join(e.text for e in events if isinstance(e, Message))
        assert "value-of-k1" in text
        assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_provider_error_ends_in_error_and_keeps_transcript(
        self, conformance_router: Router
    ) -> None:
        events = await self._events(conformance_router, "/error server_error scripted failure")
        errors = [e for e in events if isinstance(e, Error)]
        assert errors, "a provider error must surface as an Error event"
        assert isinstance(events[-1], RunFinished)
        assert events[-1].stop_reason is StopReason.ERROR
        turns = await conformance_router.transcript(events[0].session_id, self.end_user_id)  # type: ignore[attr-defined]
        assert turns[-1].user == "/error server_error scripted failure"
        assert turns[-1].status is TurnStatus.FAILED

    @pytest.mark.asyncio
    async def test_multi_turn_keeps_the_conversation(self, conformance_router: Router) -> None:
        first = await self._events(conformance_router, "remember the word pineapple")
        session_id = first[0].session_id  # type: ignore[attr-defined]
        second = await self._events(conformance_router, "/recall", session_id=session_id)
        text = "".join(e.text for e in second if isinstance(e, Message))
        assert "remember the word pineapple" in text
        assert second[-1].session_id == session_id  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_breaking_out_cancels_the_turn(self, conformance_router: Router) -> None:
        stream = conformance_router.run(
            **self._fields("/slow 0.05 one two three four five six seven eight")
        )
        session_id = ""
        async with contextlib.aclosing(stream):
            async for event in stream:
                if isinstance(event, RunStarted):
                    session_id = event.session_id
                if isinstance(event, TextDelta):
                    break
        turns = await conformance_router.transcript(session_id, self.end_user_id)
        assert turns[-1].status is TurnStatus.CANCELLED
        assert turns[-1].stop_reason is StopReason.CANCELLED
        after = await self._events(conformance_router, "still there?", session_id=session_id)
        assert after[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_a_call_cancelled_before_its_usage_is_charged(
        self, conformance_router: Router
    ) -> None:
        # Breaking out mid-stream leaves the provider's call without its usage: the ledger
        # still counts what was sent and what streamed (estimated when the provider said none).
        account = f"{self.end_user_id}-cancelled"
        stream = conformance_router.run(
            **self._fields("/slow 0.05 one two three four five six", end_user_id=account)
        )
        async with contextlib.aclosing(stream):
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
        rows = await conformance_router.usage(end_user_id=account)
        assert sum(r.calls for r in rows) == 1
        assert sum(r.input_tokens for r in rows) > 0
        assert sum(r.output_tokens for r in rows) > 0

    @pytest.mark.asyncio
    async def test_events_survive_the_wire(self, conformance_router: Router) -> None:
        events = await self._events(
            conformance_router, '/tool conformance_lookup {"key": "k2"}', tools=[conformance_lookup]
        )
        for event in events:
            assert event_from_json(event_to_json(event)) == event
