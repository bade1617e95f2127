"""The coordinator's primitives across two workers (two clients of one Redis), and the embedded
default in one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from copass_router import Coordinator, DispatchAuthError, Router, open_coordinator
from copass_router.run._tokens import mint_token, token_key_id, verify_token

CLAIMS = {"run_id": "r", "session_id": "s", "end_user_id": "u", "tools": ["t"], "ttl": 60}


@pytest.fixture(params=["local", "redis"])
async def workers(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[], Coordinator]]:
    """Opens coordinators standing for workers: on Redis, separate clients sharing a prefix;
    embedded, one coordinator (one process is all it serves)."""
    opened: list[Coordinator] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url, shared = "local", Coordinator()

    def open_one() -> Coordinator:
        coordinator = open_coordinator(url) if url != "local" else shared
        opened.append(coordinator)
        return coordinator

    yield open_one
    for coordinator in opened:
        await coordinator.aclose()


async def test_a_lock_is_held_by_one_worker_at_a_time(
    workers: Callable[[], Coordinator],
) -> None:
    a, b = workers(), workers()
    inside: list[str] = []
    overlap = 0

    async def hold(coordinator: Coordinator, name: str) -> None:
        nonlocal overlap
        async with coordinator.lock("fp-1", ttl=5):
            inside.append(name)
            overlap = max(overlap, len(inside))
            await asyncio.sleep(0.05)
            inside.remove(name)

    await asyncio.gather(*(hold(c, f"{i}") for i, c in enumerate([a, b] * 5)))
    assert overlap == 1


async def test_a_lock_whose_holder_died_lapses_after_its_ttl(redis_url: str) -> None:
    dead, alive = open_coordinator(redis_url), open_coordinator(redis_url)
    try:
        holder = asyncio.create_task(_hold_forever(dead))
        await asyncio.sleep(0.2)
        await dead.aclose()  # the worker is gone: no release, no renewal
        holder.cancel()
        start = time.monotonic()
        async with asyncio.timeout(10), alive.lock("fp-dead", ttl=1):
            waited = time.monotonic() - start
        assert waited < 10  # it lapsed (its ttl) instead of blocking forever
    finally:
        await alive.aclose()


async def _hold_forever(coordinator: Coordinator) -> None:
    # Holds the lock with a 1 s ttl; renewal stops when the client closes.
    async with coordinator.lock("fp-dead", ttl=1):
        await asyncio.sleep(3600)


async def test_the_create_budget_is_shared_by_every_worker(
    workers: Callable[[], Coordinator],
) -> None:
    a, b = workers(), workers()
    starts: list[float] = []

    async def take(coordinator: Coordinator) -> None:
        await coordinator.pace("creates", 3, 1.0)
        starts.append(time.monotonic())

    first = time.monotonic()
    await asyncio.gather(*(take(c) for c in [a, b, a, b, a, b]))
    starts.sort()
    # Three fit the window at once; the other three waited for it to pass, on either worker.
    assert starts[2] - first < 0.9
    assert starts[3] - first >= 0.9


async def test_a_hold_stops_every_worker(workers: Callable[[], Coordinator]) -> None:
    a, b = workers(), workers()
    await a.hold("creates", 0.5)
    start = time.monotonic()
    await b.pace("creates", 60, 60.0)
    assert time.monotonic() - start >= 0.4


async def test_workers_share_signing_keys_and_rotation_keeps_old_tokens_until_retired(
    redis_url: str,
) -> None:
    a, b = open_coordinator(redis_url), open_coordinator(redis_url)
    try:
        old = mint_token(await a.signing_keys(), **CLAIMS)  # type: ignore[arg-type]
        assert verify_token(await b.signing_keys(), old).run_id == "r"
        new_kid = await b.rotate_signing_key(retire_after=0.5)
        keys_a = await a.signing_keys(refresh=True)
        assert keys_a.current == new_kid  # a sees the rotation
        new = mint_token(keys_a, **CLAIMS)  # type: ignore[arg-type]
        assert verify_token(await b.signing_keys(), new).run_id == "r"
        assert verify_token(keys_a, old).run_id == "r"  # the old key still verifies
        await asyncio.sleep(0.6)
        with pytest.raises(DispatchAuthError, match="retired"):
            verify_token(await a.signing_keys(refresh=True), old)
        assert verify_token(await a.signing_keys(), new).run_id == "r"
    finally:
        await a.aclose()
        await b.aclose()


async def test_embedded_keys_rotate_too() -> None:
    local = Coordinator()
    old = mint_token(await local.signing_keys(), **CLAIMS)  # type: ignore[arg-type]
    kid = await local.rotate_signing_key(retire_after=60)
    keys = await local.signing_keys()
    new = mint_token(keys, **CLAIMS)  # type: ignore[arg-type]
    assert token_key_id(new) == kid != token_key_id(old)
    assert verify_token(keys, old).run_id == verify_token(keys, new).run_id == "r"


async def test_configured_keys_sign_with_the_first_and_verify_with_all() -> None:
    old_router = Router(
        load_entry_points=False, environ={"COPASS_ROUTER_DISPATCH_KEYS": "k1:first-secret"}
    )
    new_router = Router(
        load_entry_points=False,
        environ={"COPASS_ROUTER_DISPATCH_KEYS": "k2:second-secret,k1:first-secret"},
    )
    try:
        async with asyncio.timeout(10):
            old = mint_token(await old_router._route._keys(), **CLAIMS)  # type: ignore[arg-type]
            new = mint_token(await new_router._route._keys(), **CLAIMS)  # type: ignore[arg-type]
            assert (token_key_id(old), token_key_id(new)) == ("k1", "k2")
            assert (await new_router._route.verify(old)).run_id == "r"  # still accepted
            with pytest.raises(DispatchAuthError, match="unknown or retired key"):
                await old_router._route.verify(new)  # a worker not given k2 refuses it
    finally:
        await old_router.aclose()
        await new_router.aclose()


@pytest.mark.parametrize("text", ["", "nocolon", "a:x,a:y", ":secret"])
def test_bad_configured_keys_are_refused(text: str) -> None:
    from copass_router import ConfigurationError, SigningKeys

    with pytest.raises(ConfigurationError, match="COPASS_ROUTER_DISPATCH_KEYS"):
        SigningKeys.parse(text)


async def test_an_unknown_coordinator_url_says_what_works() -> None:
    from copass_router import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"redis://"):
        open_coordinator("memcached://127.0.0.1:11211")


def test_the_rotate_key_command_rotates_the_shared_key(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from copass_router.cli._main import main

    monkeypatch.setenv("COPASS_ROUTER_COORDINATOR", redis_url)
    assert main(["coordinator", "rotate-key", "--retire-after", "60"]) == 0
    first = capsys.readouterr().out.split("key ")[1].split(";")[0]
    assert main(["coordinator", "rotate-key"]) == 0
    second = capsys.readouterr().out.split("key ")[1].split(";")[0]
    assert first != second

    async def current() -> str:
        coordinator = open_coordinator(redis_url)
        try:
            keys = await coordinator.signing_keys()
            return keys.current
        finally:
            await coordinator.aclose()

    assert asyncio.run(current()) == second


def test_the_rotate_key_command_needs_a_shared_coordinator(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from copass_router.cli._main import main

    monkeypatch.delenv("COPASS_ROUTER_COORDINATOR", raising=False)
    assert main(["coordinator", "rotate-key"]) == 1
    assert "COPASS_ROUTER_COORDINATOR=redis://" in capsys.readouterr().err


async def test_a_retired_key_is_refused_on_every_worker_once_its_time_passes(
    redis_url: str,
) -> None:
    env = {"COPASS_ROUTER_COORDINATOR": redis_url}
    a = Router(load_entry_points=False, environ=env)
    b = Router(load_entry_points=False, environ=env)
    try:
        async with asyncio.timeout(10):
            old = mint_token(await a._route._keys(), **CLAIMS)  # type: ignore[arg-type]
            assert (await b._route.verify(old)).run_id == "r"  # both have read the keys now
            await a._route._coordinator().rotate_signing_key(retire_after=0)
            await asyncio.sleep(0.05)
            for router in (a, b):  # b's copy of the keys does not outlive the retirement
                with pytest.raises(DispatchAuthError, match="retired"):
                    await router._route.verify(old)
            # Tokens b signs now verify everywhere (it signs with the new key).
            new = mint_token(await b._route.prepare(), **CLAIMS)  # type: ignore[arg-type]
            assert (await a._route.verify(new)).run_id == "r"
    finally:
        await a.aclose()
        await b.aclose()


async def test_signing_keys_at_rest_in_redis_are_not_the_keys(redis_url: str) -> None:
    import redis.asyncio as aioredis

    env = {"COPASS_ROUTER_COORDINATOR": redis_url, "COPASS_ROUTER_KEY_WRAP_SECRET": "w" * 32}
    coordinator = open_coordinator(environ=env)
    try:
        keys = await coordinator.signing_keys()
        base, _, prefix = redis_url.partition("?prefix=")
        client = aioredis.from_url(base)
        stored = b"".join([await client.get(f"{prefix}:dispatch-keys") or b""])
        await client.aclose()
        assert stored
        for secret in keys.keys.values():
            assert secret.hex().encode() not in stored and secret not in stored
        # Another worker with the same wrapping secret reads the same keys.
        other = open_coordinator(environ=env)
        assert (await other.signing_keys()).keys == keys.keys
        await other.aclose()
    finally:
        await coordinator.aclose()


async def test_a_forwarded_call_may_take_longer_than_a_redis_read_timeout(
    redis_url: str,
) -> None:
    owner, other = open_coordinator(redis_url), open_coordinator(redis_url)

    async def slow(call: Any) -> dict[str, Any]:
        await asyncio.sleep(6.5)  # a tool call longer than redis-py's 5 s read timeout
        return {"output": f"done {call['n']}"}

    try:
        await owner.listen(slow)
        async with asyncio.timeout(30):
            answer = await other.forward(owner.worker_id, {"n": 1}, wait=20)
        assert answer == {"output": "done 1"}
    finally:
        await owner.aclose()
        await other.aclose()


async def test_a_burst_of_runs_waits_for_the_redis_pool_instead_of_failing(redis_url: str) -> None:
    # 1,000 runs starting at once each read the signing keys: with more callers than the
    # client's connections, they wait for one (and share one read of the keys); none is told
    # the coordinator is unreachable.
    coordinator = open_coordinator(redis_url + "&max_connections=4")
    try:
        await coordinator.signing_keys()
        results = await asyncio.gather(
            *(coordinator.signing_keys() for _ in range(1000)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == []

        # The locks, the pacer, everything on the same client: queued too, not refused.
        async def locked(n: int) -> int:
            async with coordinator.lock(f"burst-{n}", ttl=5):
                return n

        assert sorted(await asyncio.gather(*(locked(n) for n in range(200)))) == list(range(200))
    finally:
        await coordinator.aclose()
