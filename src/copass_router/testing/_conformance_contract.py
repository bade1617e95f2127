"""The request contract every provider keeps, proven by the conformance suite.

Per-run system prompt and model, the tool-round cap (dispatch callbacks included), the whole
history of earlier turns and of other providers, neutral error codes, retries, cancellation
reaching the provider and the model's own stop reasons (the request fields are
``_conformance_fields``). Every stream the suite reads is checked against the stream grammar too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import pytest

from copass_router._errors import ERROR_CODES
from copass_router._events import Error, Event, Message, Retry, RunStarted, TextDelta, Usage
from copass_router._types import StopReason, TurnStatus
from copass_router.run._router import Router
from copass_router.tools._tools import Tool, tool


class EmulatorProbe(Protocol):
    """What the suite needs to see and steer at a provider's emulator."""

    def fail_next(self, status: int, *, count: int = 1) -> None:
        """Refuse the next ``count`` requests with HTTP ``status`` (the provider's error body)."""

    def streams_open(self) -> int:
        """How many model streams the emulator is serving right now."""


class KitProbe:
    """The :class:`EmulatorProbe` of an emulator built on the emulator kit: anything with the
    kit's ``faults`` (:class:`~copass_router.testing.Faults`) and ``streams``
    (:class:`~copass_router.testing.StreamStats`)."""

    def __init__(self, emulator: Any) -> None:
        self._emulator = emulator

    def fail_next(self, status: int, *, count: int = 1) -> None:
        """Refuse the next ``count`` requests with ``status``."""
        self._emulator.faults.fail_next(status, count=count)

    def streams_open(self) -> int:
        """Streams opened and not yet ended one way or another."""
        s = self._emulator.streams
        return int(s.opened - s.completed - s.cut - s.abandoned)


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


def _counting_tool() -> tuple[Tool, list[str]]:
    ran: list[str] = []

    @tool
    def conformance_again(key: str) -> str:
        """Count a call (the conformance suite's looping tool)."""
        ran.append(key)
        return f"again-{len(ran)}"

    return conformance_again, ran


async def _eventually(check: Any, seconds: float = 3.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


class ContractTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]
    model: ClassVar[str | None]
    alternate_model: ClassVar[str | None]
    end_user_id: ClassVar[str]
    #: Stop reasons the provider's API has no way to report, each with why (the kit skips them).
    unsupported_stop_reasons: ClassVar[Mapping[StopReason, str]] = {}

    def _fields(self, message: str, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    async def _model(self, router: Router) -> str:
        backend = await router.backend(self.provider)
        model = self.model or backend.default_model
        assert model, "set `model` on the conformance class: the backend has no default"
        return model

    # -- the run request reaches the model -------------------------------------------------

    @pytest.mark.asyncio
    async def test_per_run_system_and_model_reach_the_model(
        self, conformance_router: Router
    ) -> None:
        first_model = await self._model(conformance_router)
        # A backend that sends its default whatever the run asks must fail here.
        second_model = self.alternate_model or "conformance-alternate-model"
        assert second_model != first_model, "set alternate_model to a model other than `model`"
        first = await self._events(
            conformance_router, "/whoami", system="You are conformance agent A1.", model=first_model
        )
        assert f"model={first_model}" in _text(first)
        assert "You are conformance agent A1." in _text(first)
        assert isinstance(first[0], RunStarted) and first[0].model == first_model
        session_id = first[0].session_id
        second = await self._events(
            conformance_router,
            "/whoami",
            system="You are conformance agent B2.",
            model=second_model,
            session_id=session_id,
        )
        text = _text(second)
        assert f"model={second_model}" in text, f"the run's model never reached it: {text}"
        assert "You are conformance agent B2." in text and "A1" not in text
        assert isinstance(second[0], RunStarted) and second[0].model == second_model

    # -- the tool-round cap ----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_the_tool_round_cap_ends_the_turn_with_tool_limit(
        self, conformance_router: Router
    ) -> None:
        again, ran = _counting_tool()
        events = await self._events(
            conformance_router,
            '/loop conformance_again {"key": "x"}',
            tools=[again],
            max_tool_rounds=2,
            timeout=5,  # a backend that ignores the cap loops until this bound
        )
        assert len(ran) == 2, f"{len(ran)} tool calls ran under max_tool_rounds=2"
        assert events[-1].stop_reason is StopReason.TOOL_LIMIT  # type: ignore[attr-defined]
        requests = sum(isinstance(e, Usage) for e in events)  # each model request closes with one
        assert requests <= 3, f"{requests} model requests under max_tool_rounds=2 (at most 3)"
        session_id = events[0].session_id  # type: ignore[attr-defined]
        turns = await conformance_router.transcript(session_id, self.end_user_id)
        assert turns[-1].stop_reason is StopReason.TOOL_LIMIT
        after = await self._events(conformance_router, "after the cap", session_id=session_id)
        assert after[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    # -- how the model stopped --------------------------------------------------------------

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("command", "reason"),
        [("/refuse", StopReason.REFUSAL), ("/max_tokens", StopReason.MAX_TOKENS)],
    )
    async def test_the_models_stop_reason_is_kept(
        self, conformance_router: Router, command: str, reason: StopReason
    ) -> None:
        why = self.unsupported_stop_reasons.get(reason)
        if why is not None:
            pytest.skip(f"{self.provider} cannot report {reason.value}: {why}")
        events = await self._events(conformance_router, command)
        assert events[-1].stop_reason is reason, (  # type: ignore[attr-defined]
            f"the model stopped with {reason.value}; the run says {events[-1].stop_reason.value}"  # type: ignore[attr-defined]
        )

    # -- history -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_the_whole_history_reaches_the_model(self, conformance_router: Router) -> None:
        lookup = _lookup()
        first = await self._events(
            conformance_router, '/tool conformance_lookup {"key": "h1"}', tools=[lookup]
        )
        session_id = first[0].session_id  # type: ignore[attr-defined]
        await self._events(
            conformance_router, "second message", session_id=session_id, tools=[lookup]
        )
        recall = _text(
            await self._events(conformance_router, "/recall", session_id=session_id, tools=[lookup])
        )
        _assert_recalled(recall, "h1")

    @pytest.mark.asyncio
    async def test_history_from_another_provider_reaches_the_model(
        self, conformance_router: Router
    ) -> None:
        lookup = _lookup()
        first = [
            e
            async for e in conformance_router.run(
                provider="echo",
                message='/tool conformance_lookup {"key": "x9"}',
                end_user_id=self.end_user_id,
                tools=[lookup],
            )
        ]
        session_id = first[0].session_id  # type: ignore[attr-defined]
        for message in ("second message", "/recall"):
            last = await self._events(
                conformance_router, message, session_id=session_id, tools=[lookup]
            )
        _assert_recalled(_text(last), "x9")

    # -- errors ------------------------------------------------------------------------------

    @pytest.mark.asyncio
    @pytest.mark.parametrize("code", ["rate_limited", "overloaded", "server_error"])
    async def test_provider_error_events_carry_neutral_codes(
        self, conformance_router: Router, code: str
    ) -> None:
        events = await self._events(conformance_router, f"/error {code} scripted {code}")
        errors = [e for e in events if isinstance(e, Error)]
        assert [e.code for e in errors] == [code], errors
        assert events[-1].stop_reason is StopReason.ERROR  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (401, "authentication_failed"),
            (403, "permission_denied"),
            (429, "rate_limited"),
            (500, "server_error"),
            (503, "overloaded"),
        ],
    )
    async def test_refused_requests_are_neutral_errors_retried_by_the_core(
        self,
        conformance_router: Router,
        conformance_emulator: EmulatorProbe | None,
        status: int,
        code: str,
    ) -> None:
        if conformance_emulator is None:
            pytest.skip("no emulator: the provider has no HTTP API")
        warm = await self._events(conformance_router, "warm up")
        session_id = warm[0].session_id  # type: ignore[attr-defined]
        retryable = ERROR_CODES[code].retryable
        conformance_emulator.fail_next(status, count=3 if retryable else 1)
        events = await self._events(conformance_router, "refused", session_id=session_id)
        errors = [e for e in events if isinstance(e, Error)]
        assert [(e.code, e.retryable) for e in errors] == [(code, retryable)], errors
        retries = [e for e in events if isinstance(e, Retry)]
        assert len(retries) == (2 if retryable else 0)
        assert all(e.code == code for e in retries)
        assert events[-1].stop_reason is StopReason.ERROR  # type: ignore[attr-defined]
        turns = await conformance_router.transcript(session_id, self.end_user_id)
        assert turns[-1].status is TurnStatus.FAILED
        after = await self._events(conformance_router, "and again", session_id=session_id)
        assert after[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_a_refusal_inside_the_retry_budget_is_absorbed(
        self, conformance_router: Router, conformance_emulator: EmulatorProbe | None
    ) -> None:
        if conformance_emulator is None:
            pytest.skip("no emulator: the provider has no HTTP API")
        warm = await self._events(conformance_router, "warm up")
        session_id = warm[0].session_id  # type: ignore[attr-defined]
        conformance_emulator.fail_next(429, count=1)
        events = await self._events(
            conformance_router, "through a rate limit", session_id=session_id
        )
        assert not [e for e in events if isinstance(e, Error)]
        assert [e.attempt for e in events if isinstance(e, Retry)] == [1]
        assert "through a rate limit" in _text(events)

    # -- cancellation --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_breaking_out_closes_the_provider_stream(
        self, conformance_router: Router, conformance_emulator: EmulatorProbe | None
    ) -> None:
        if conformance_emulator is None:
            pytest.skip("no emulator: the provider has no HTTP API")
        words = " ".join(f"w{i}" for i in range(40))
        stream = conformance_router.run(**self._fields(f"/slow 0.1 {words}"))
        async with contextlib.aclosing(stream):
            async for event in stream:
                if isinstance(event, TextDelta):
                    assert conformance_emulator.streams_open() > 0
                    break
        closed = await _eventually(lambda: conformance_emulator.streams_open() == 0, 2.0)
        assert closed, "the provider's stream stayed open after the consumer broke out"


@tool
def conformance_lookup(key: str) -> str:
    """Look a key up (the conformance suite's tool)."""
    return f"value-of-{key}"


def _lookup() -> Tool:
    return conformance_lookup


def _assert_recalled(recall: str, key: str) -> None:
    expected = [
        f'/tool conformance_lookup {{"key": "{key}"}}',
        f'tool_call conformance_lookup {{"key": "{key}"}}',
        f"value-of-{key}",
        "user: second message",
        "echo: second message",
    ]
    missing = [line for line in expected if line not in recall]
    assert not missing, f"the model never saw {missing}; it saw:\n{recall}"
    # Each earlier message once: history is not repeated on top of the session's own memory.
    assert recall.count("user: second message") == 1, recall
