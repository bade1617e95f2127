"""The PostgreSQL store's schema: migrations applied once, whoever starts first."""

from __future__ import annotations

import asyncio

import pytest

from copass_router import ConfigurationError, Router
from copass_router.store._postgres import PostgresStore

from ..services import postgres_base


async def test_workers_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    applied = await asyncio.gather(*(s.migrate() for s in stores))
    assert sorted(applied) == [[], [], [], [1, 2, 3, 4]]
    infos = await asyncio.gather(*(s.create_session("u") for s in stores))
    assert len(await stores[0].list_sessions("u")) == len(infos) == 4
    await asyncio.gather(*(s.close() for s in stores))


def test_a_bad_schema_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresStore(f"{postgres_base()}?schema=x;drop")


async def test_the_url_selects_the_store(postgres_url: str) -> None:
    router = Router(store=postgres_url, load_entry_points=False, environ={})
    assert isinstance(router.store, PostgresStore)
    assert router.store.schema.startswith("copass_test_")
    env_router = Router(load_entry_points=False, environ={"COPASS_ROUTER_STORE": postgres_url})
    assert isinstance(env_router.store, PostgresStore)
    sid = (await router.complete(provider="echo", message="hi")).session_id
    assert (await env_router.get_session(sid, "local")).turn_count == 1
    await router.aclose()
    await env_router.aclose()
