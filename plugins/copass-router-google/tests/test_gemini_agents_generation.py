"""``gemini-agents`` and the run's generation settings: sent as the interaction's
``generation_config`` (real google-genai SDK against the emulator), refused on a managed agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import copass_router_google
import pytest

from copass_router import Event, InvalidRequestError, Message, Router, StopReason

PROVIDER = "gemini-agents"


async def run(router: Router, message: str, **kw: Any) -> list[Event]:
    return [e async for e in router.run(provider=PROVIDER, message=message, **kw)]


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Message))


async def test_settings_go_out_as_the_generation_config(
    gemini_router: Router, interactions_emu: Any
) -> None:
    events = await run(
        gemini_router,
        "/settings",
        temperature=0.6,
        max_output_tokens=25,
        stop=["END", "STOP"],
        options={"top_p": 0.9},
    )
    assert text(events) == 'temperature=0.6 max_output_tokens=25 stop=["END", "STOP"]'
    [request] = interactions_emu.requests.matching("/v1beta/interactions", method="POST")
    assert request.body["generation_config"] == {
        "top_p": 0.9,
        "temperature": 0.6,
        "max_output_tokens": 25,
        "stop_sequences": ["END", "STOP"],
    }
    cut = await run(gemini_router, "/long 10", max_output_tokens=2)
    assert text(cut) == "w1 w2" and cut[-1].stop_reason is StopReason.MAX_TOKENS  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"temperature": 0.1}, "temperature"), ({"options": {"top_p": 0.5}}, "options")],
)
async def test_a_managed_agent_refuses_them_before_any_call(
    make_router: Callable[..., Router],
    gemini_env: dict[str, str],
    interactions_emu: Any,
    fields: dict[str, Any],
    field: str,
) -> None:
    router = make_router(
        plugins=[copass_router_google],
        environ=gemini_env,
        provider_settings={PROVIDER: {"agent": "antigravity-preview-05-2026"}},
    )
    with pytest.raises(InvalidRequestError, match="would be ignored") as refused:
        await run(router, "hi", **fields)
    assert refused.value.field == field
    assert interactions_emu.requests.matching("/v1beta/interactions", method="POST") == []
