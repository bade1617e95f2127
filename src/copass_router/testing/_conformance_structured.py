"""The structured-output contract, proven by the conformance suite.

Every provider answers a run with ``output_schema`` by a value valid against it (natively, or
through the schema stated in the system prompt), streamed as ``StructuredOutput`` before
``RunFinished``; an answer that does not validate is asked for once more (a ``Retry`` with
``output_invalid``), and a second one that does not ends the run with that error code.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from copass_router._errors import ErrorCode
from copass_router._events import Error, Event, Retry, RunFinished, StructuredOutput
from copass_router._types import StopReason
from copass_router.run._router import Router

#: The schema the kit asks for: an object with a string, an integer and a list.
KIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "count": {"type": "integer", "minimum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    },
    "required": ["answer", "count", "tags"],
    "additionalProperties": False,
}


def _values(events: list[Event]) -> list[Any]:
    return [e.value for e in events if isinstance(e, StructuredOutput)]


class StructuredOutputTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    @pytest.mark.asyncio
    async def test_structured_output_is_valid_and_streamed(
        self, conformance_router: Router
    ) -> None:
        events = await self._events(conformance_router, "parcel 7", output_schema=KIT_SCHEMA)
        assert _values(events) == [
            {"answer": "echo: parcel 7", "count": 3, "tags": ["echo: parcel 7"] * 2}
        ], f"{self.provider}: no valid structured output in {[e.type for e in events]}"
        assert isinstance(events[-2], StructuredOutput)
        assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_invalid_output_is_asked_for_again_once(self, conformance_router: Router) -> None:
        events = await self._events(
            conformance_router,
            '/json {"answer": "x", "count": 1, "tags": ["a", "b"]}',
            output_schema=KIT_SCHEMA,
        )
        retries = [e for e in events if isinstance(e, Retry)]
        assert [r.code for r in retries] == [ErrorCode.OUTPUT_INVALID]
        assert "count" in retries[0].message and "minimum" in retries[0].message
        assert len(_values(events)) == 1
        assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_output_invalid_twice_ends_with_its_code(
        self, conformance_router: Router
    ) -> None:
        events = await self._events(
            conformance_router, "/badjson not json at all", output_schema=KIT_SCHEMA
        )
        errors = [e for e in events if isinstance(e, Error)]
        assert [e.code for e in errors] == [ErrorCode.OUTPUT_INVALID]
        assert not _values(events)
        finished = events[-1]
        assert isinstance(finished, RunFinished) and finished.stop_reason is StopReason.ERROR
