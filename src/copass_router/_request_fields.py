"""What a provider declares a request may carry for it: its own fields and its options.

A provider field is a top-level run field only some providers use (a deployed engine's id, a
region). The provider declares it (:class:`RequestField`) when it registers, and its backend
lists the same declarations in ``AgentBackend.request_fields``; the run carries every provider
field in ``RunRequest.provider_fields``, so one request can go to whichever provider runs it
(failover included) and each takes what it declared.

An option is a provider setting without a field of its own (``options={...}``); the backend
declares each one it takes (:class:`RequestOption`) in ``AgentBackend.request_options``, and
says there how the operator's policy bounds it. The core refuses anything undeclared, or of
another type, naming what the provider takes, before anything reaches the provider.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from copass_router._errors import InvalidRequestError

#: What a provider field's or an option's value may be: one type or a tuple of them.
ValueType = type | tuple[type, ...]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestField:
    """A run field that only the declaring provider uses (e.g. a deployed agent's id).

    :param name: the field's name, snake_case and none of the core's run fields (the
        conformance kit checks): ``Router.run(name=...)``, ``"name"`` in hosted JSON
        (``camelCase`` too), ``--name-with-dashes`` on the command line.
    :param type: the type (or types) a value must have.
    :param required: the provider cannot run without it: a run that lacks it is refused
        before any call, with ``help`` in the error.
    :param help: one line for ``--help`` and errors: what the value is.
    """

    name: str
    type: ValueType = str
    required: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                "a provider field's name is snake_case (letters, digits, _; at most 64); "
                f"got {self.name!r}"
            )

    def check(self, value: Any, provider: str) -> None:
        """Raise :class:`InvalidRequestError` unless ``value`` has this field's type."""
        if not fits(value, self.type):
            raise InvalidRequestError(
                f"{self.name} of provider {provider!r} must be {type_names(self.type)}, "
                f"not {type(value).__name__}",
                field=self.name,
            )


@dataclasses.dataclass(frozen=True, slots=True)
class RequestOption:
    """An option a run may set for the declaring provider (``options={name: value}``).

    :param type: the type (or types) a value must have.
    :param help: one line: what the option does.
    :param operator: how the operator's policy bounds it, in a few words (e.g. "may only
        tighten COPASS_X"); empty when the operator has no say. The backend enforces that
        bound in ``validate``; this text is what the options table in the docs shows.
    """

    type: ValueType
    help: str = ""
    operator: str = ""


def fits(value: Any, expected: ValueType) -> bool:
    """Whether ``value`` is of ``expected`` (a bool is no int unless bool is named)."""
    wanted = expected if isinstance(expected, tuple) else (expected,)
    return isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))


def type_names(expected: ValueType) -> str:
    """``expected`` as words: ``str``, ``int or float``."""
    wanted = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in wanted)


def as_request_field(value: RequestField | str) -> RequestField:
    """A declaration from a :class:`RequestField` or a bare name (an optional string)."""
    if isinstance(value, RequestField):
        return value
    if isinstance(value, str):
        return RequestField(value)
    raise TypeError(f"a provider field is a RequestField or its name; got {value!r:.60}")


def unknown_field(name: str, provider: str, takes: Mapping[str, Any]) -> str:
    """The message refusing ``name``, a field no installed provider declares, on ``provider``
    (which takes the fields ``takes``)."""
    listed = ", ".join(sorted(takes)) or "none"
    return (
        f"unknown run field {name!r}: no installed provider uses {name!r} (provider "
        f"{provider!r} takes these provider fields: {listed}); remove it, or install the "
        "provider that declares it"
    )
