from __future__ import annotations

from typing import Any

from copass_router import Message, RunFinished, StopReason, TextDelta


async def test_smoke(run_google: Any) -> None:
    events = await run_google("hello there")
    print(events)
    assert isinstance(events[-1], RunFinished)
    assert events[-1].stop_reason is StopReason.END_TURN
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: hello there"
    assert [e.text for e in events if isinstance(e, Message)] == ["echo: hello there"]
