"""Forwarding a dispatch call between two routers in one test process, each with its own Redis
client (so its own worker id): the owner's answers, refusals included, reach the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from copass_router import (
    AgentBackend,
    DispatchAuthError,
    Event,
    InvalidRequestError,
    Message,
    Router,
    StopReason,
    Turn,
    hookimpl,
    tool,
)

calls: list[str] = []
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@tool
async def lookup(city: str) -> str:
    """Weather for a city."""
    calls.append(city)
    return f"sunny in {city}"


class Relay(AgentBackend):
    """Runs its calls through the *other* router's ``handle_dispatch``, as a callback landing on
    another worker would."""

    default_model = "relay-1"

    def __init__(self) -> None:
        self.other: Router | None = None
        self.outcomes: list[Any] = []

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        assert self.other is not None
        attempts: list[tuple[str, dict[str, Any], str]] = [
            ("lookup", {"city": "Oslo"}, "c-1"),
            ("lookup", {"city": "Oslo"}, "c-1"),  # a retry: answered, not run again
            ("lookup", {"city": "Rome"}, "c-1"),  # the same id, other arguments
            ("delete_everything", {}, "c-2"),  # a tool the token does not allow: an error result
            ("lookup", {"city": "Rome"}, ""),  # no call id
        ]
        for name, arguments, call_id in attempts:
            try:
                result = await self.other.handle_dispatch(
                    turn.dispatch_token or "", name, arguments, call_id, trace_context=TRACE
                )
                self.outcomes.append(result.output)
            except (DispatchAuthError, InvalidRequestError) as exc:
                self.outcomes.append(exc)
        yield Message(text="done")


class Plugin:
    def __init__(self, backend: Relay) -> None:
        self.backend = backend

    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        register("relay", lambda context: self.backend)


async def test_calls_forwarded_to_the_owner_are_answered_refused_and_deduplicated(
    tmp_path: Path, redis_url: str
) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    relay = Relay()
    owner = Router(
        store=store,
        coordinator=redis_url,
        load_entry_points=False,
        environ={},
        plugins=[Plugin(relay)],
        tools=[lookup],
    )
    other = Router(store=store, coordinator=redis_url, load_entry_points=False, environ={})
    relay.other = other
    calls.clear()
    try:
        assert owner.coordinator.worker_id != other.coordinator.worker_id
        async with asyncio.timeout(30):
            result = await owner.complete(provider="relay", message="go")
    finally:
        await owner.aclose()
        await other.aclose()
    assert result.stop_reason is StopReason.END_TURN
    first, retry, changed, forbidden, no_id = relay.outcomes
    assert first == retry == "sunny in Oslo"
    assert calls == ["Oslo"]  # ran once, in the owner
    assert isinstance(changed, DispatchAuthError) and changed.forbidden
    assert "another call" in str(changed)
    assert forbidden.startswith("unknown tool 'delete_everything'")
    assert isinstance(no_id, InvalidRequestError) and no_id.field == "call_id"
    # The owner's stream shows each call under its real name, once.
    assert [(c.name, c.call_id) for c in result.tool_calls] == [
        ("lookup", "c-1"),
        ("delete_everything", "c-2"),
    ]
    # The callback's trace headers travel with the forwarded call to the owner's middleware.
    call = result.tool_calls[0]
    assert (call.provider_data or {})["copass_router"]["trace_context"] == TRACE


@pytest.mark.parametrize("coordinator", ["local", "redis"])
async def test_a_token_naming_another_worker_is_refused_without_one(
    tmp_path: Path, coordinator: str, request: pytest.FixtureRequest
) -> None:
    # A router whose coordinator cannot reach the worker a token names says the run is gone.
    url = request.getfixturevalue("redis_url") if coordinator == "redis" else "local"
    from copass_router.run._tokens import mint_token

    router = Router(
        store=":memory:",
        coordinator=url,
        load_entry_points=False,
        environ={},
        dispatch_secret=b"s" * 32,
    )
    token = mint_token(
        b"s" * 32,
        run_id="r",
        session_id="s",
        end_user_id="u",
        tools=["lookup"],
        ttl=60,
        worker="w-gone",
    )
    try:
        with pytest.raises(DispatchAuthError, match="worker is gone"):
            await router.handle_dispatch(token, "lookup", {}, "c-1")
    finally:
        await router.aclose()
