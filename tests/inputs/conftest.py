"""Fixtures for the bad-input tests: the hosted router of tests/harness.py and what it ran.

A test counts what the router behind the server actually did (sessions written, tools invoked)
while it talks to it over real HTTP. Every hypothesis example of a test shares that test's one
server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import strategies as st

from copass_router import Router, TurnStatus, tool
from copass_router.testing import ScriptedBackend, ScriptedPlugin

from ..harness import HostedRouter, problem_of, start_hosted_router, stream_types

__all__ = ["problem_of", "stream_types"]  # the inputs tests import them from here

KEY = "inputs-key-0123456789abcdef"
TENANT = "inputs"
SECRET = b"inputs-test-dispatch-secret"
# What a response body must never hold, whatever was sent: the marks of a Python traceback.
# (Generated inputs never contain them, so an echo of the input cannot trip the check.)
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/')


class ToolLog:
    """Every call that reached a tool function, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def tools(self) -> list[Any]:
        log = self

        @tool
        async def lookup(city: str, days: int = 1) -> str:
            """Look up the weather in a city."""
            log.calls.append(("lookup", {"city": city, "days": days}))
            return f"sunny in {city}"

        @tool(
            parameters={
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "unit": {"enum": ["m", "km"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                    "where": {
                        "type": "object",
                        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                        "required": ["lat", "lon"],
                    },
                },
                "required": ["n"],
                "additionalProperties": False,
            }
        )
        def measure(**arguments: Any) -> dict[str, Any]:
            """Measure something (a schema given by hand, checked before the call)."""
            log.calls.append(("measure", dict(arguments)))
            return {"ok": True, "n": arguments["n"]}

        @tool
        def ping() -> str:
            """Answer pong."""
            log.calls.append(("ping", {}))
            return "pong"

        return [lookup, measure, ping]


@attrs.define
class Served(HostedRouter):
    """A hosted router under test and what ran behind it."""

    tools: ToolLog
    scripted: ScriptedBackend

    def http(self, key: str | None = KEY, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 30)
        return super().http(key, **kwargs)

    async def sessions(self) -> dict[str, int]:
        """Every stored session (all end users) and its turn count, read in-process."""
        return {s.session_id: s.turn_count for s in await self.router.list_sessions(None, 500)}

    async def unfinished_turns(self, session_id: str) -> list[int]:
        """Indexes of the session's turns still marked running (a half-written turn)."""
        turns = await self.router.store.load_turns(session_id)
        return [t.index for t in turns if t.status is TurnStatus.RUNNING]


def make_router(tools: ToolLog, scripted: ScriptedBackend) -> Router:
    """An isolated router: echo, a scripted backend, three tools, a known dispatch secret."""
    return Router(
        store=":memory:",
        load_entry_points=False,
        environ={},
        plugins=[ScriptedPlugin(scripted=scripted)],
        tools=tools.tools(),
        dispatch_secret=SECRET,
        turn_timeout=20,
    )


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """A hosted router on 127.0.0.1 with one API key (tenant ``inputs``)."""
    tools, scripted = ToolLog(), ScriptedBackend()
    router = make_router(tools, scripted)
    server, state = await start_hosted_router(router, api_keys=[f"{TENANT}:{KEY}"])
    served = Served(router, server, state, tools, scripted)
    try:
        yield served
    finally:
        await served.aclose()


def assert_no_traceback(text: str) -> None:
    """Fail if ``text`` carries the marks of a Python traceback."""
    for mark in TRACEBACK_MARKS:
        assert mark not in text, f"traceback mark {mark!r} in: {text[:300]!r}"


# -- strategies shared by the tests ---------------------------------------------------------------


def _clean(text: str) -> bool:
    return "Traceback" not in text and 'File "' not in text


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text (lone surrogates have tests of their own) free of traceback marks."""
    return st.text(min_size=min_size, max_size=max_size).filter(_clean)


# Strings a JSON body can carry but UTF-8 cannot encode (``"\ud800"`` escapes parse to them).
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc80x"])


def json_texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text a JSON body may carry: :func:`texts`, now and then with a lone surrogate."""
    return st.one_of(texts(max_size=max_size), texts(max_size=max_size), LONE_SURROGATES)


def json_values(allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value Python's parser accepts (NaN and Infinity included unless told)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**300), max_value=10**300),
        st.floats(allow_nan=allow_nan, allow_infinity=True),
        json_texts(),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(texts(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


JSON_VALUES = json_values()
JSON_VALUES_FINITE = json_values(allow_nan=False)


def nested(depth: int, kind: str) -> Any:
    """``depth`` levels of ``[...]`` or ``{"k": ...}`` around a string."""
    value: Any = "core"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def nested_json(depth: int, kind: str) -> bytes:
    """:func:`nested` as JSON text, built by hand: ``json.dumps`` itself stops near 1,000."""
    if kind == "list":
        return b"[" * depth + b'"core"' + b"]" * depth
    return b'{"k": ' * depth + b'"core"' + b"}" * depth


def json_bytes(value: Any) -> bytes:
    """``value`` as a JSON body (NaN and Infinity allowed, as Python's parser accepts them)."""
    return json.dumps(value, allow_nan=True).encode()
