"""Bad ``POST /v1/dispatch`` payloads are refused with a 4xx and run no tool.

A run is held live on the router (so its token is good), and generated payloads hit the real
endpoint: garbage or foreign tokens, wrongly typed ``tool_name``/``arguments``/``call_id``,
tools outside the run's allow-list. The tool functions count every call that reached them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from copass_router import Event, TextDelta, Turn
from copass_router.run._tokens import mint_token

from .conftest import (
    JSON_VALUES,
    LONE_SURROGATES,
    SECRET,
    Served,
    assert_no_traceback,
    json_bytes,
    problem_of,
    texts,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
B64 = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60
)


@attrs.define
class Held:
    """A run kept live on the scripted backend, and what its stream showed."""

    served: Served
    turn: Turn
    events: list[Event]
    good: str = ""  # minted once: a token's length varies with its expiry's digits
    _calls: itertools.count[int] = attrs.field(factory=itertools.count)

    def __attrs_post_init__(self) -> None:
        self.good = self.mint()

    def call_id(self) -> str:
        """A call id never used before (a replayed id with other arguments is refused)."""
        return f"call-{next(self._calls)}"

    def mint(self, secret: bytes = SECRET, **changes: Any) -> str:
        claims: dict[str, Any] = {
            "run_id": self.turn.run_id,
            "session_id": self.turn.session_id,
            "end_user_id": self.turn.end_user_id,
            "tools": ["lookup", "measure", "ping"],
            "ttl": 600,
        }
        claims.update(changes)
        return mint_token(secret, **claims)

    def tool_events(self) -> list[str]:
        return [e.type for e in self.events if e.type in ("tool_call", "tool_result")]


@pytest.fixture
async def held(served: Served) -> AsyncIterator[Held]:
    served.scripted.enqueue(TextDelta(text="holding"), hang=True)
    events: list[Event] = []
    holding = asyncio.Event()

    async def consume() -> None:
        # Examples share the run: room for each one's call under the tool-round cap, and live
        # for as long as they take (past the router's turn timeout on a busy machine).
        async for item in served.router.run(
            provider="scripted",
            message="hold",
            end_user_id="holder",
            max_tool_rounds=100,
            timeout=600,
        ):
            events.append(item)
            holding.set()  # the turn is live once its first event is out

    task = asyncio.create_task(consume())
    await asyncio.wait_for(holding.wait(), 10)
    try:
        yield Held(served, served.scripted.turns[-1], events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


# Junk in the token's shape or not (non-ASCII and lone surrogates too), and tokens that are
# not strings at all.
GARBAGE_TOKENS = st.one_of(
    ASCII,
    texts(max_size=40),
    st.builds(lambda b, s: f"cpt1.{b}.{s}", B64, texts(min_size=1, max_size=8)),
    st.builds(lambda b, s: f"cpt1.{s}.{b}", B64, LONE_SURROGATES),
    st.builds(lambda b, s: f"cpt1.{b}.{s}", B64, B64),
    st.builds(lambda b: f"cpt1.{b}", B64),
    JSON_VALUES.filter(lambda v: not isinstance(v, str)),
)


async def post(served: Served, body: Any, token_header: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    if token_header is not None:
        headers["authorization"] = f"Bearer {token_header}"
    async with served.http(key=None) as http:
        response = await http.post("/v1/dispatch", content=json_bytes(body), headers=headers)
    note(f"{response.status_code}: {response.text[:300]!r}")
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.text[:300]
    assert_no_traceback(response.text)
    return response


@SETTINGS
@given(data=st.data(), in_header=st.booleans())
async def test_garbage_foreign_and_forged_tokens_are_refused(
    held: Held, data: st.DataObject, in_header: bool
) -> None:
    kind = data.draw(
        st.sampled_from(["garbage", "tampered", "other secret", "other run", "expired"])
    )
    good = held.good
    if kind == "garbage":
        token = data.draw(GARBAGE_TOKENS)
    elif kind == "tampered":
        cut = data.draw(st.integers(0, len(good) - 1))
        token = good[:cut] + data.draw(ASCII.filter(lambda s: s != good[cut:]))
    elif kind == "other secret":
        token = held.mint(secret=data.draw(st.binary(min_size=1, max_size=32)).replace(SECRET, b""))
        assume(token != good)
    elif kind == "other run":
        token = held.mint(run_id=data.draw(B64.map(lambda s: f"run_{s}")))
        assume(token != good)
    else:
        token = held.mint(ttl=-data.draw(st.floats(1, 1e6)))
    body: dict[str, Any] = {
        "tool_name": "lookup",
        "arguments": {"city": "Oslo"},
        "call_id": data.draw(texts(min_size=1, max_size=20)),
    }
    # In a header only what HTTP allows there (uvicorn refuses the rest before the app runs).
    header_safe = isinstance(token, str) and token.isascii() and token.isprintable()
    if in_header and header_safe and token and token == token.strip():
        response = await post(held.served, body, token_header=token)
    else:
        response = await post(held.served, {**body, "token": token})
    assert response.status_code in (400, 401, 403)
    problem = problem_of(response)
    if response.status_code == 400:
        assert problem["field"] == "token"
    else:
        assert problem["code"] == "dispatch_unauthorized"
    assert held.served.tools.calls == [], "a refused dispatch ran a tool"
    assert held.tool_events() == []


def _wrong(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid.map(lambda v: ("ok", v)), bad.map(lambda v: ("bad", v)))


@SETTINGS
@given(
    tool_name=_wrong(
        st.sampled_from(["lookup", "ping"]),
        st.just("") | JSON_VALUES.filter(lambda v: not isinstance(v, str)),
    ),
    arguments=_wrong(
        st.just({"city": "Rome"}) | st.none(),
        JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, dict)),
    ),
    call_id=_wrong(
        texts(min_size=1, max_size=20),
        st.just("") | JSON_VALUES.filter(lambda v: not isinstance(v, str)),
    ),
    absent=st.sets(st.sampled_from(["tool_name", "arguments", "call_id"])),
)
async def test_wrongly_typed_fields_with_a_good_token_are_400_naming_the_field(
    held: Held,
    tool_name: tuple[str, Any],
    arguments: tuple[str, Any],
    call_id: tuple[str, Any],
    absent: set[str],
) -> None:
    fields = {"tool_name": tool_name, "arguments": arguments, "call_id": call_id}
    body: dict[str, Any] = {"token": held.good}
    bad: list[str] = []
    for name in ("tool_name", "arguments", "call_id"):  # the order the endpoint checks them
        verdict, value = fields[name]
        if name in absent:
            if name != "arguments":  # no arguments means none
                bad.append(name)
            continue
        body[name] = value
        if (
            verdict == "bad"
            or (name == "call_id" and value is None)
            or (name == "tool_name" and value is None)
        ):
            bad.append(name)
    assume(bad)
    response = await post(held.served, body)
    assert response.status_code == 400
    assert problem_of(response)["field"] == bad[0]
    assert held.served.tools.calls == []
    assert held.tool_events() == []


@SETTINGS
@given(
    tool_name=texts(min_size=1, max_size=30).filter(
        lambda n: n not in ("lookup", "measure", "ping")
    ),
    arguments=st.dictionaries(texts(max_size=8), JSON_VALUES, max_size=3),
)
async def test_a_tool_outside_the_allow_list_never_runs(
    held: Held, tool_name: str, arguments: dict[str, Any]
) -> None:
    call_id = f"outside-{uuid.uuid4().hex}"  # each example its own call
    body = {"token": held.good, "tool_name": tool_name, "arguments": arguments, "call_id": call_id}
    response = await post(held.served, body)
    assert response.status_code == 200  # the model sees an error result, as in process
    assert response.json()["is_error"] is True
    assert response.json()["output"].startswith("unknown tool")
    assert held.served.tools.calls == []


VALID_MEASURE = st.fixed_dictionaries(
    {"n": st.integers(0, 1000)},
    optional={
        "unit": st.sampled_from(["m", "km"]),
        "tags": st.lists(texts(max_size=10), max_size=3),
        "where": st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.integers(-180, 180)}),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    arguments=st.one_of(
        VALID_MEASURE,
        VALID_MEASURE,
        st.fixed_dictionaries({"n": JSON_VALUES}, optional={"unit": JSON_VALUES}),
        st.dictionaries(texts(max_size=8), JSON_VALUES, max_size=3),
    ),
)
async def test_arguments_that_break_the_schema_never_reach_the_tool(
    held: Held, arguments: dict[str, Any]
) -> None:
    before = len(held.served.tools.calls)
    body = {
        "token": held.good,
        "tool_name": "measure",
        "arguments": arguments,
        "call_id": held.call_id(),
    }
    response = await post(held.served, body)
    assert response.status_code == 200
    answer = response.json()
    schema = held.turn.tools[[t.name for t in held.turn.tools].index("measure")].parameters
    valid = not list(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    event(f"valid {valid}")
    assert answer["is_error"] is not valid
    assert len(held.served.tools.calls) == before + (1 if valid else 0)
    if not valid:
        assert "invalid arguments for 'measure'" in answer["output"]


@pytest.mark.parametrize("token", ["cpt1.e30.\u00e9", "cpt1.\ud800.sig"])
async def test_a_non_ascii_token_is_401(held: Held, token: str) -> None:
    body = {"token": token, "tool_name": "lookup", "arguments": {}, "call_id": "c"}
    async with held.served.http(key=None) as http:
        response = await http.post("/v1/dispatch", content=json_bytes(body))
    assert response.status_code == 401
    assert held.served.tools.calls == []
