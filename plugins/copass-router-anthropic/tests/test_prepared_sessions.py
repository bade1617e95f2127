"""The Anthropic session of a new router session is created while the store makes that one
(``prepare_session``): named after it, used by its first turn, and a failure to create it is
that turn's, recorded like any other; the next turn of the session starts a native one."""

from __future__ import annotations

from typing import Any

from copass_router_anthropic.emulator import EmulatorServer

from copass_router import Error, Router, StopReason, TurnStatus


async def run(router: Router, message: str, **fields: Any) -> list[Any]:
    return [e async for e in router.run(provider="anthropic", message=message, **fields)]


async def test_a_new_session_gets_its_native_session_named_after_it(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    events = await run(anthropic_router, "hello", end_user_id="u-7")
    sid = events[0].session_id
    assert events[-1].stop_reason is StopReason.END_TURN
    (native,) = emulator.state.sessions.values()
    assert native["metadata"] == {"copass_session_id": sid, "copass_end_user_id": "u-7"}
    assert native["title"] == f"copass-router session {sid}"
    binding = await anthropic_router.store.get_binding(sid, "anthropic")
    assert binding is not None and binding.native_id == native["id"]
    assert emulator.state.creates["session"] == 1


async def test_a_refused_create_is_the_turns_failure_and_the_session_goes_on(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    await run(anthropic_router, "warm the agent")  # the next run's create is its first request
    emulator.faults.fail_next(400, method="POST", path="/v1/sessions")
    events = await run(anthropic_router, "hello")
    sid = events[0].session_id
    assert events[-1].stop_reason is StopReason.ERROR
    assert [e.code for e in events if isinstance(e, Error)] == ["invalid_request"]
    # The transcript holds the failed turn, no native session is bound, and the next turn
    # of the session starts one.
    (failed,) = await anthropic_router.store.load_turns(sid)
    assert failed.status is TurnStatus.FAILED and failed.user == "hello"
    assert await anthropic_router.store.get_binding(sid, "anthropic") is None
    again = await run(anthropic_router, "again", session_id=sid)
    assert again[-1].stop_reason is StopReason.END_TURN
    binding = await anthropic_router.store.get_binding(sid, "anthropic")
    assert binding is not None and binding.native_id in emulator.state.sessions


async def test_a_create_the_core_retries_makes_one_session(
    anthropic_router: Router, emulator: EmulatorServer
) -> None:
    await run(anthropic_router, "warm the agent")
    emulator.faults.fail_next(503, method="POST", path="/v1/sessions")
    events = await run(anthropic_router, "hello")
    assert events[-1].stop_reason is StopReason.END_TURN
    assert emulator.state.creates["session"] == 2  # the first run's, and this one's once
