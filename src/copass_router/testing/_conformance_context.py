"""The context-window contract, proven by the conformance suite.

The suite makes the provider's declared window small (as a switch to a smaller model would)
and sends it a session whose earlier turns, run on echo, do not fit: with
``context_overflow="error"`` the turn ends with ``context_length_exceeded`` before any model
call; with ``"compact"`` the oldest turn is left out, a ``context_compacted`` event says so and
the provider sees only the turn that fits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from copass_router._errors import ErrorCode
from copass_router._events import ContextCompacted, Error, Event, Message, RunFinished, Usage
from copass_router._types import StopReason
from copass_router.provider_kit._backend import AgentBackend
from copass_router.run._router import Router

#: The window the suite gives the provider, in tokens: the newest earlier turn fits, the
#: long one before it does not.
KIT_WINDOW = 200
_LONG = "alpha " + "long words " * 100


@contextlib.contextmanager
def _window(backend: AgentBackend, tokens: int) -> Iterator[None]:
    saved = backend.__dict__.copy()
    setattr(backend, "context_windows", {})  # noqa: B010 - an instance's own declaration
    setattr(backend, "default_context_window", tokens)  # noqa: B010
    try:
        yield
    finally:
        for name in ("context_windows", "default_context_window"):
            if name in saved:
                setattr(backend, name, saved[name])
            else:
                delattr(backend, name)


class ContextWindowTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    async def _session_too_big(self, router: Router) -> str:
        first = await self._events(router, _LONG, provider="echo", model=None)
        session_id: str = first[0].session_id  # type: ignore[attr-defined]
        await self._events(router, "beta", provider="echo", model=None, session_id=session_id)
        return session_id

    async def _recall(self, router: Router, policy: str) -> list[Event]:
        session_id = await self._session_too_big(router)
        backend = await router.backend(self.provider)
        before = router.context_overflow
        router.context_overflow = policy
        try:
            with _window(backend, KIT_WINDOW):
                return await self._events(router, "/recall", session_id=session_id)
        finally:
            router.context_overflow = before

    @pytest.mark.asyncio
    async def test_a_history_too_big_is_refused_before_any_call(
        self, conformance_router: Router
    ) -> None:
        events = await self._recall(conformance_router, "error")
        errors = [e for e in events if isinstance(e, Error)]
        assert [e.code for e in errors] == [ErrorCode.CONTEXT_LENGTH_EXCEEDED]
        assert f"the model takes {KIT_WINDOW}" in errors[0].message
        assert not [e for e in events if isinstance(e, Usage | Message)], "a model was called"
        finished = events[-1]
        assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.ERROR

    @pytest.mark.asyncio
    async def test_a_history_too_big_is_compacted_and_says_so(
        self, conformance_router: Router
    ) -> None:
        events = await self._recall(conformance_router, "compact")
        [notice] = [e for e in events if isinstance(e, ContextCompacted)]
        assert (notice.turns_before, notice.turns_after, notice.limit) == (2, 1, KIT_WINDOW)
        assert notice.tokens_after <= KIT_WINDOW < notice.tokens_before
        text = "".join(e.text for e in events if isinstance(e, Message))
        assert "user: beta" in text and "alpha" not in text
        assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]
