"""The reasoning contract, proven by the conformance suite.

A provider's reasoning (``/think`` makes the scripted model reason) is recorded as its own
transcript item, with the provider and model, never as answer text; reasoning of another
provider never reaches this one as it is: dropped by default, a labelled summary under
``reasoning_portability="summarise"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from copass_router._events import Event, Message, RunStarted, ThinkingMessage
from copass_router._types import AssistantItem, ReasoningItem
from copass_router.run._router import Router

#: What echo's ``/think kit plan`` reasons: the prompt reversed, in no message.
ECHO_SECRET = "nalp tik"


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


class ReasoningTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]
    end_user_id: ClassVar[str]

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    @pytest.mark.asyncio
    async def test_reasoning_is_its_own_transcript_item(self, conformance_router: Router) -> None:
        events = await self._events(conformance_router, "/think the kit plan")
        thoughts = [e.text for e in events if isinstance(e, ThinkingMessage)]
        if not thoughts:
            pytest.skip(f"{self.provider} streams no reasoning")
        started = events[0]
        assert isinstance(started, RunStarted)
        turns = await conformance_router.transcript(started.session_id, self.end_user_id)
        items = turns[-1].items
        kept = [i for i in items if isinstance(i, ReasoningItem)]
        assert [i.text for i in kept] == thoughts
        assert all(i.provider == self.provider and i.model == started.model for i in kept)
        answer = " ".join(i.text for i in items if isinstance(i, AssistantItem))
        assert "nalp tik eht" not in answer, "reasoning was recorded as answer text"

    @pytest.mark.asyncio
    async def test_another_providers_reasoning_is_dropped_or_summarised(
        self, conformance_router: Router
    ) -> None:
        if self.provider == "echo":
            pytest.skip("echo is the other provider here")
        router = conformance_router
        before = router.reasoning_portability
        seen = {}
        try:
            for policy in ("drop", "summarise"):  # a session each: a native one keeps what it saw
                router.reasoning_portability = policy
                thought = await self._events(router, "/think kit plan", provider="echo", model=None)
                session_id = thought[0].session_id  # type: ignore[attr-defined]
                seen[policy] = _text(await self._events(router, "/recall", session_id=session_id))
        finally:
            router.reasoning_portability = before
        dropped, summarised = seen["drop"], seen["summarise"]
        assert "I thought about: kit plan" in dropped
        assert ECHO_SECRET not in dropped, f"{self.provider} was shown echo's reasoning"
        assert "Summary of the reasoning by echo/echo-1" in summarised
        assert ECHO_SECRET in summarised
