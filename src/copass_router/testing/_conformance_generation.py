"""The generation-settings contract, proven by the conformance suite.

A backend that lists a setting in ``generation_settings`` must send it to its model (the scripted
model's ``/settings`` reports what reached it, and honours ``max_output_tokens`` and ``stop`` as a
model would); a setting it does not list is refused before the run, naming it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from copass_router._errors import InvalidRequestError
from copass_router._events import Event, Message
from copass_router._generation import GENERATION_FIELDS
from copass_router._types import StopReason
from copass_router.run._router import Router

#: A value of each setting that no provider uses by default.
KIT_SETTINGS: dict[str, Any] = {"temperature": 0.25, "max_output_tokens": 40, "stop": ["ZQX"]}


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


class GenerationTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    async def _declared(self, router: Router) -> frozenset[str]:
        backend = await router.backend(self.provider)
        unknown = set(backend.generation_settings) - set(GENERATION_FIELDS)
        assert not unknown, f"generation_settings lists unknown settings: {sorted(unknown)}"
        return backend.generation_settings

    @pytest.mark.asyncio
    async def test_generation_settings_reach_the_model(self, conformance_router: Router) -> None:
        declared = await self._declared(conformance_router)
        if not declared:
            pytest.skip(f"{self.provider} takes no generation settings")
        taken = {k: v for k, v in KIT_SETTINGS.items() if k in declared}
        text = _text(await self._events(conformance_router, "/settings", **taken))
        expected = {
            "temperature": "temperature=0.25",
            "max_output_tokens": "max_output_tokens=40",
            "stop": 'stop=["ZQX"]',
        }
        for name in taken:
            assert expected[name] in text, f"the run's {name} never reached the model: {text}"

    @pytest.mark.asyncio
    async def test_settings_a_provider_lacks_are_refused_before_the_run(
        self, conformance_router: Router
    ) -> None:
        declared = await self._declared(conformance_router)
        missing = [name for name in GENERATION_FIELDS if name not in declared]
        if not missing:
            pytest.skip(f"{self.provider} takes every generation setting")
        for name in missing:
            with pytest.raises(InvalidRequestError) as refused:
                await self._events(conformance_router, "/settings", **{name: KIT_SETTINGS[name]})
            assert refused.value.field == name
            assert repr(self.provider) in str(refused.value)

    @pytest.mark.asyncio
    async def test_the_model_honours_the_output_limit_and_stop(
        self, conformance_router: Router
    ) -> None:
        declared = await self._declared(conformance_router)
        if not {"max_output_tokens", "stop"} & declared:
            pytest.skip(f"{self.provider} takes neither max_output_tokens nor stop")
        if "max_output_tokens" in declared:
            events = await self._events(conformance_router, "/long 30", max_output_tokens=5)
            text = _text(events)
            assert "w5" in text and "w6" not in text, text
            assert events[-1].stop_reason is StopReason.MAX_TOKENS  # type: ignore[attr-defined]
        if "stop" in declared:
            events = await self._events(conformance_router, "one two ZQX three", stop="ZQX")
            text = _text(events)
            assert "two" in text and "three" not in text and "ZQX" not in text, text
            assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]
