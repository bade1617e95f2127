"""Bad input never crashes the router or half-writes a session; a killed router loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from copass_router import Router, RouterError, RunFinished, StopReason, TurnStatus

FIELD_VALUES: dict[str, Any] = {
    "provider": st.sampled_from(["echo", "", "nope", "ECHO"]) | st.text(max_size=20),
    "message": st.text(max_size=200) | st.integers() | st.none(),
    "end_user_id": st.text(max_size=140) | st.integers(),
    "session_id": st.none() | st.text(max_size=140),
    "max_tool_rounds": st.integers(-5, 500) | st.floats(allow_nan=True) | st.booleans(),
    "timeout": st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=3),
    "model": st.none() | st.text(max_size=30) | st.integers(),
    "system": st.none() | st.text(max_size=50) | st.lists(st.integers(), max_size=2),
    "options": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2) | st.integers(),
}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.fixed_dictionaries({}, optional=FIELD_VALUES))
async def test_any_run_arguments_give_a_run_or_a_typed_error(fields: dict[str, Any]) -> None:
    router = Router(store=":memory:", load_entry_points=False, environ={})
    try:
        try:
            events = [e async for e in router.run(**fields)]
        except RouterError as exc:
            assert str(exc)
            assert await router.list_sessions() == [], "a refused request wrote a session"
            return
        assert isinstance(events[-1], RunFinished)
        assert events[-1].stop_reason in set(StopReason)
    finally:
        await router.aclose()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from copass_router import Router, TextDelta

    async def main():
        router = Router(store=sys.argv[1], load_entry_points=False, environ={})
        router.store.lease_seconds = 0.5  # the dead turn's claim on the session lapses soon
        first = await router.complete(provider="echo", message="completed turn", end_user_id="u")
        print(first.session_id, flush=True)
        async for event in router.run(provider="echo", message="/slow 0.5 never finishes",
                                      session_id=first.session_id, end_user_id="u"):
            if isinstance(event, TextDelta):
                print("streaming", flush=True)

    asyncio.run(main())
    """
)


def test_a_router_killed_mid_turn_keeps_the_transcript(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COPASS_ROUTER_LOAD_PLUGINS": ""},
    )
    assert child.stdout is not None
    session_id = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "streaming"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)

    asyncio.run(_check_after_restart(url, session_id))


async def _check_after_restart(url: str, session_id: str) -> None:
    router = Router(store=url, load_entry_points=False, environ={})
    await asyncio.sleep(0.6)  # past the dead turn's lease
    turns = await router.transcript(session_id, "u")
    assert [t.user for t in turns] == ["completed turn", "/slow 0.5 never finishes"]
    assert turns[0].status is TurnStatus.COMPLETED and turns[0].text == "echo: completed turn"
    assert turns[1].status is TurnStatus.INTERRUPTED  # it never finished
    after = await router.complete(
        provider="echo", message="/recall", session_id=session_id, end_user_id="u"
    )
    assert "user: completed turn" in after.text and "user: /slow 0.5 never finishes" in after.text
    assert after.stop_reason is StopReason.END_TURN
    await router.aclose()
