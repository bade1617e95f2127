"""The provider-fields contract, proven by the conformance suite.

What a backend declares in ``request_fields`` is what its plugin registered, and none of it is
a core run field; a field no
installed provider declares is refused with an error naming the provider's own fields; a field
another provider declares is carried along (the swap loop hands every provider the same
fields); a required field missing, or a value of the wrong type, is refused before any call.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from copass_router._errors import InvalidRequestError
from copass_router._events import Event
from copass_router._request_fields import RequestField, fits
from copass_router._types import RunRequest, StopReason
from copass_router.plugin_host._plugins import BackendRegistration
from copass_router.run._router import Router

#: A provider field no provider declares (the kit declares it for a stand-in provider).
FOREIGN_FIELD = "conformance_foreign_region"


class FieldTests:
    """Mixed into :class:`~copass_router.testing.BackendConformance`."""

    provider: ClassVar[str]
    end_user_id: ClassVar[str]

    def _fields(self, message: str, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def _events(self, router: Router, message: str, **extra: Any) -> list[Event]:
        raise NotImplementedError

    async def _declared_fields(self, router: Router) -> dict[str, RequestField]:
        backend = await router.backend(self.provider)
        return {f.name: f for f in backend.request_fields}

    async def _refused(self, router: Router, fields: dict[str, Any]) -> InvalidRequestError:
        """The error a run of ``fields`` raises; the run must start nothing."""
        before = await router.list_sessions(self.end_user_id)
        with pytest.raises(InvalidRequestError) as refused:
            async for _ in router.run(**fields):
                pytest.fail("the run started: it should have been refused before any call")
        assert await router.list_sessions(self.end_user_id) == before, "a half-done run"
        return refused.value

    @pytest.mark.asyncio
    async def test_declared_fields_are_what_the_plugin_registered(
        self, conformance_router: Router
    ) -> None:
        declared = await self._declared_fields(conformance_router)
        clash = sorted(set(declared) & {f.name for f in attrs.fields(RunRequest)})
        assert not clash, f"{clash} are the core's run fields: name the provider's fields apart"
        registration = conformance_router.plugins.backends[self.provider]
        registered = {f.name: f for f in registration.declared}
        assert declared == registered, (
            f"the backend's request_fields {sorted(declared)} differ from the fields its plugin "
            f"registers {sorted(registered)}: give register(..., fields=...) the same "
            "declarations, or other providers refuse this provider's fields"
        )

    @pytest.mark.asyncio
    async def test_an_unknown_field_is_refused_naming_the_providers_fields(
        self, conformance_router: Router
    ) -> None:
        declared = await self._declared_fields(conformance_router)
        error = await self._refused(
            conformance_router, self._fields("unknown field", **{FOREIGN_FIELD: "x"})
        )
        assert error.field == FOREIGN_FIELD
        message = str(error)
        assert FOREIGN_FIELD in message
        for name in declared:
            assert name in message, f"the error does not name the provider's field {name!r}"

    @pytest.mark.asyncio
    async def test_fields_of_other_providers_are_carried_along(
        self, conformance_router: Router
    ) -> None:
        host = conformance_router.plugins
        stand_in = RequestField(FOREIGN_FIELD, help="a field of another provider")
        host.backends["conformance-fields"] = BackendRegistration(
            "conformance-fields",
            "unused:factory",
            "conformance",
            declared=(stand_in,),
        )
        try:
            events = await self._events(
                conformance_router, "the swap loop's fields", **{FOREIGN_FIELD: "x"}
            )
        finally:
            del host.backends["conformance-fields"]
        assert events[-1].stop_reason is StopReason.END_TURN  # type: ignore[attr-defined]

    @pytest.mark.asyncio
    async def test_a_required_field_missing_is_refused_before_any_call(
        self, conformance_router: Router
    ) -> None:
        required = [
            f for f in (await self._declared_fields(conformance_router)).values() if f.required
        ]
        if not required:
            pytest.skip("the provider requires no field of its own")
        for field in required:
            fields = self._fields("without a required field")
            fields.pop(field.name, None)
            error = await self._refused(conformance_router, fields)
            assert error.field == field.name, f"missing {field.name}: {error}"
            assert field.name in str(error)

    @pytest.mark.asyncio
    async def test_a_field_of_the_wrong_type_is_refused_before_any_call(
        self, conformance_router: Router
    ) -> None:
        wrong = [
            f
            for f in (await self._declared_fields(conformance_router)).values()
            if not fits([], f.type)
        ]
        if not wrong:
            pytest.skip("the provider declares no field a list would be wrong for")
        for field in wrong:
            error = await self._refused(
                conformance_router, self._fields("a wrong type", **{field.name: ["x"]})
            )
            assert error.field == field.name, f"{field.name} given a list: {error}"
