"""A provider session made while the store claims a new router session (``prepare_session``)
is deleted when the claim fails: PostgreSQL, reached through a TCP proxy the test stops, goes
away between the runs, and the run that fails leaves nothing behind, at the provider or in the
store."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import copass_router_anthropic
import pytest
from copass_router_anthropic.emulator import running_emulator

from copass_router import Router, RouterError, StopReason

from .stand_ins import TcpProxy

KEY = "sk-ant-api03-TESTKEY0123456789abcdefABCDEF"


async def test_a_failed_claim_deletes_the_provider_session_made_for_it(
    postgres_url: str, make_router: Callable[..., Router]
) -> None:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    proxied = proxy.via(postgres_url)
    try:
        with running_emulator(api_key=KEY) as emu:
            env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": emu.base_url}
            router = make_router(plugins=[copass_router_anthropic], environ=env, store=proxied)
            first = await router.complete(provider="anthropic", message="one")
            assert first.stop_reason is StopReason.END_TURN
            await proxy.stop()
            with pytest.raises(RouterError, match="session store"):
                await router.complete(provider="anthropic", message="two")
            # The second run's session was made at the provider, then deleted.
            assert emu.state.creates["session"] == 2
            deleted = emu.state.requests_to("DELETE", "/v1/sessions/")
            assert len(deleted) == 1 and len(emu.state.sessions) == 1
            await proxy.start()
            sessions = await router.list_sessions("local")
            assert [s.session_id for s in sessions] == [first.session_id]
    finally:
        await proxy.stop()
