"""Tools that fail: raise, hang past their timeout, or return what JSON cannot carry.

On every provider the model gets an error result it can answer (the scripted model replies
``tool results: NAME -> OUTPUT``, so the reply proves what reached it) and the run finishes.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from copass_router import StopReason, Tool, TurnStatus, tool

from .conftest import PROVIDERS, Rig
from .fault_tools import Tools


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("this exception cannot be printed")


#: name -> (how to make the tool, what the model must be told)
FAULTS: dict[str, tuple[Callable[[Tools], Tool], str]] = {
    "raises": (
        lambda t: t.raising("explode", lambda: RuntimeError("exploded: r")),
        "tool 'explode' failed: RuntimeError: exploded: r",
    ),
    "hangs": (lambda t: t.stall(timeout=0.3), "tool 'stall' timed out after 0.3 s"),
    "hangs_in_a_thread": (
        lambda t: t.stall_sync(timeout=0.3),
        "tool 'stall_sync' timed out after 0.3 s",
    ),
    "returns_a_set_inside": (
        lambda t: t.returning("shapeless", lambda: {"ids": {1, 2}}),
        "tool 'shapeless' returned a dict, which is not JSON",
    ),
    "returns_an_object": (
        lambda t: t.returning("shapeless", object),
        "tool 'shapeless' returned a object, which is not JSON",
    ),
    "returns_a_cycle": (
        lambda t: t.returning("shapeless", _circular),
        "tool 'shapeless' returned a list, which is not JSON",
    ),
    # Found by this suite: the dispatcher re-raised it, so the run died with CancelledError
    # (echo, OpenAI), hung to its timeout (Anthropic) or lost the tool result (Google).
    "raises_cancelled_error": (
        lambda t: t.raising("quitter", asyncio.CancelledError),
        "tool 'quitter' failed: it raised CancelledError",
    ),
    # Found by this suite: formatting the exception raised again and failed the whole run.
    "raises_an_unprintable_exception": (
        lambda t: t.raising("garbled", _Unprintable),
        "tool 'garbled' failed: _Unprintable",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failing_tool_gives_the_model_an_error_result(
    rig: Rig, provider: str, fault: str
) -> None:
    make, told = FAULTS[fault]
    faulty = make(rig.tools)
    session, before = await rig.warm_up(provider)
    message = f'/tool {faulty.name} {{"reason": "r"}}'
    out = await rig.complete(provider, message, session, tools=[faulty])
    assert [(r.name, r.output, r.is_error) for r in out.tool_results] == [(faulty.name, told, True)]
    assert out.stop_reason is StopReason.END_TURN, out.errors
    assert out.text.endswith(f"tool results: {faulty.name} -> {told}")  # the model saw it
    if provider in ("anthropic", "openai-compatible"):  # Google's agent calls back in-process
        assert told in rig.emulators.received(provider)
    if provider == "anthropic":
        (answer,) = rig.emulators.anthropic.state.sent_events("user.custom_tool_result")
        assert answer["is_error"] is True
    await rig.assert_recovers(provider, session, before, message, TurnStatus.COMPLETED)
    assert rig.tools.ran[faulty.name] == 1


def _first(key: str) -> str:
    return f"first {key}"


def _second(reason: str) -> str:
    return f"second {reason}"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_new_tool_is_checked_against_its_own_schema(rig: Rig, provider: str) -> None:
    """Found by this suite: compiled schemas were cached under ``id(tool)``, so a per-run tool
    that got the id of a freed one was checked against the freed tool's schema."""
    session, before = await rig.warm_up(provider)
    first = tool(_first, name="first")  # takes ``key``
    first_id, gone = id(first), weakref.ref(first)
    message = '/tool first {"key": "k"}'
    out = await rig.complete(provider, message, session, tools=[first])
    assert [r.output for r in out.tool_results] == ["first k"]
    spec = tool(_second, name="second").spec  # takes ``reason``; made now, so that below
    gc.collect()  # nothing but the new Tool objects compete for the memory freed here
    del first
    if gone() is not None:
        gc.collect()
    if gone() is not None:
        pytest.skip("the first tool is still referenced")
    alive: list[Tool] = []  # keeps the misses alive, so the freed slot comes round
    for _ in range(10_000):
        second = Tool(spec=spec, function=_second)
        if id(second) == first_id:
            break
        alive.append(second)
    else:
        pytest.skip("CPython did not reuse the freed tool's id")
    later = '/tool second {"reason": "r"}'
    out = await rig.complete(provider, later, session, tools=[second])
    assert [(r.output, r.is_error) for r in out.tool_results] == [("second r", False)]
    await rig.assert_recovers(provider, session, [*before, message], later, TurnStatus.COMPLETED)
