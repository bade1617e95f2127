"""The Redis coordinator: workers on any machines sharing locks, the create budget, signing
keys and the route of dispatch callbacks (``pip install 'copass-router[redis]'``;
``COPASS_ROUTER_COORDINATOR=redis://host:6379/0[?prefix=NAME]``).

Every key starts with the prefix (default ``copass_router``), so several deployments, or test
runs, can share one Redis. Nothing here is durable state: losing Redis loses locks in flight,
the create window and un-answered forwards, never a session or a turn (those are in the store);
the signing keys are re-created, and tokens signed with the lost ones stop verifying. With
``COPASS_ROUTER_KEY_WRAP_SECRET`` set, the signing keys are kept wrapped (:class:`.KeyWrap`):
Redis alone cannot sign a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from copass_router._errors import ConfigurationError, DispatchAuthError
from copass_router._logs import get_logger, scrub
from copass_router._outages import CoordinatorUnavailableError, coordinator_call, masked_url
from copass_router.coordination._base import Coordinator, ForwardHandler
from copass_router.coordination._keys import KeyWrap, SigningKeys

log = get_logger("copass_router.coordinator")

# Sliding window of starts in a sorted set, on the server's clock; a hold key blocks all.
# Returns 0 when a start was counted, else the milliseconds to wait.
_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('PTTL', KEYS[2])
if held > 0 then return held end
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + period - now)
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
#: How long a worker trusts its copy of the signing keys before reading them again: not
#: long, so a key retired elsewhere stops verifying here on time (a read is one small GET).
KEYS_REFRESH_SECONDS = 0.0
#: Seconds a command waits for one of the client's connections when all are busy.
POOL_WAIT = 10.0
#: How long a forward waits for the owning worker to subscribe again (a Redis restart).
RESUBSCRIBE_GRACE = 2.0


class RedisCoordinator(Coordinator):
    """A :class:`Coordinator` on Redis (redis-py's asyncio client)."""

    shared = True

    def __init__(self, url: str, *, wrap: KeyWrap | None = None) -> None:
        super().__init__()
        self._wrap = wrap
        self._keys_raw: bytes | None = None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", "copass_router")
        self.url = urlunsplit(parts._replace(query=urlencode(query)))
        #: The URL as errors show it (password masked).
        self.shown_url = masked_url(url)
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigurationError(
                "the Redis coordinator needs redis-py: pip install 'copass-router[redis]'"
            ) from None
        _check_settings(self.url, self.shown_url)
        # A burst of runs asks for more connections than the pool keeps: they wait for one
        # (up to POOL_WAIT seconds) instead of each failing as the coordinator unreachable.
        self._redis: Any = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                self.url, decode_responses=False, timeout=POOL_WAIT
            )
        )
        # Blocking reads (BLPOP) wait longer than the client's 5 s read timeout: a client of
        # their own with none, each read bounded by its own wait instead.
        self._blocking: Any = aioredis.from_url(
            self.url, decode_responses=False, socket_timeout=None, socket_connect_timeout=5
        )
        self._pace_script = self._redis.register_script(_PACE)
        self._release_script = self._redis.register_script(_RELEASE)
        self._renew_script = self._redis.register_script(_RENEW)
        self._keys_read_at = -1.0
        self._keys_reading: asyncio.Future[SigningKeys] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._handling: set[asyncio.Task[None]] = set()

    def _unavailable(self, doing: str) -> contextlib.AbstractAsyncContextManager[None]:
        return coordinator_call(doing, self.shown_url)

    def key(self, *parts: str) -> str:
        """A key under this coordinator's prefix."""
        return ":".join((self.prefix, *parts))

    # -- locks and budgets -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float = 30.0) -> AsyncIterator[None]:
        key, token, ms = self.key("lock", name), secrets.token_hex(8), max(1, int(ttl * 1000))
        delay = 0.01
        async with self._unavailable("take a lock"):
            while not await self._redis.set(key, token, nx=True, px=ms):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
        renewer = asyncio.create_task(self._renew_lock(key, token, ttl))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(Exception):  # it lapses on its own if Redis is gone
                await self._release_script(keys=[key], args=[token])

    async def _renew_lock(self, key: str, token: str, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await self._renew_script(keys=[key], args=[token, int(ttl * 1000)]):
                    log.warning("coordinator_lock_lost", lock=key)
                    return
            except Exception as exc:
                log.warning("coordinator_lock_renewal_failed", lock=key, error=repr(exc))

    async def pace(self, name: str, limit: int, period: float) -> None:
        keys = [self.key("pace", name), self.key("hold", name)]
        member = secrets.token_hex(8)
        while True:
            async with self._unavailable("pace a create"):
                wait_ms = await self._pace_script(
                    keys=keys, args=[max(1, limit), max(1, int(period * 1000)), member]
                )
            if int(wait_ms) <= 0:
                return
            await asyncio.sleep(int(wait_ms) / 1000)

    async def hold(self, name: str, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        key = self.key("hold", name)
        async with self._unavailable("hold a create budget"):
            # Only ever lengthens a hold: a shorter retry-after does not cut a longer one.
            if await self._redis.pttl(key) < ms:
                await self._redis.set(key, b"1", px=ms)

    async def ping(self) -> None:
        async with self._unavailable("answer a ping"):
            await self._redis.ping()

    # -- signing keys ------------------------------------------------------------------------

    async def signing_keys(self, *, refresh: bool = False) -> SigningKeys:
        loop = asyncio.get_running_loop()
        if (
            self._keys is not None
            and not refresh
            and loop.time() - self._keys_read_at < KEYS_REFRESH_SECONDS
        ):
            return self._keys
        if refresh:  # a key id just seen elsewhere: a read of its own, begun after it
            return await self._read_signing_keys()
        # Callers at once share one read.
        reading = self._keys_reading
        if reading is None or reading.done():
            reading = self._keys_reading = asyncio.ensure_future(self._read_signing_keys())
            reading.add_done_callback(_retrieved)
        return await asyncio.shield(reading)

    async def _read_signing_keys(self) -> SigningKeys:
        loop = asyncio.get_running_loop()
        key = self.key("dispatch-keys")
        async with self._unavailable("read the dispatch signing keys"):
            raw = await self._redis.get(key)
            if raw is None:
                fresh = SigningKeys.generate()
                await self._redis.set(key, _keys_json(fresh, self._wrap), nx=True)
                raw = await self._redis.get(key)
        if self._keys is None or raw != self._keys_raw:
            self._keys, self._keys_raw = _keys_from_json(raw, self._wrap), raw
        self._keys_read_at = loop.time()
        return self._keys

    async def rotate_signing_key(self, *, retire_after: float) -> str:
        key = self.key("dispatch-keys")
        async with (
            self._unavailable("rotate the dispatch signing key"),
            self.lock("dispatch-keys-rotation", ttl=10),
        ):
            keys = await self.signing_keys(refresh=True)
            rotated = keys.rotated(retire_after)
            await self._redis.set(key, _keys_json(rotated, self._wrap))
        self._keys, self._keys_read_at = rotated, asyncio.get_running_loop().time()
        log.info("dispatch_key_rotated", key_id=rotated.current)
        return rotated.current

    # -- forwarded dispatch calls ------------------------------------------------------------

    async def listen(self, handler: ForwardHandler) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(handler))
        if not self._subscribed.is_set():
            async with self._unavailable("subscribe to forwarded dispatch calls"):
                await asyncio.wait_for(self._subscribed.wait(), 2)

    async def _listen(self, handler: ForwardHandler) -> None:
        channel = self.key("worker", self.worker_id)
        approvals = self.key("approvals").encode()
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel, approvals)
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    if message.get("channel") == approvals:
                        answer = self._answer_approvals(message["data"])
                    else:
                        answer = self._answer(handler, message["data"])
                    task = asyncio.create_task(answer)
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: subscribe again when it is back
                self._subscribed.clear()
                log.warning("coordinator_listener_reconnecting", error=repr(exc))
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _answer(self, handler: ForwardHandler, data: bytes) -> None:
        try:
            call = json.loads(data)
            answer = await handler(call)
            reply = self.key("reply", str(call["reply"]))
            await self._redis.rpush(reply, json.dumps(answer))
            await self._redis.expire(reply, 60)
        except Exception as exc:  # the caller times out and says so
            log.warning("forwarded_dispatch_unanswered", error=repr(exc))

    # -- approval questions asked of every worker ---------------------------------------------

    async def _answer_approvals(self, data: bytes) -> None:
        # Every listening worker answers (with no answers when nothing here answers
        # approvals), so the asking worker knows when it has heard from all of them.
        try:
            question = json.loads(data)
            answers = [answer(question) for answer in self._approvals]
            reply = self.key("reply", str(question["reply"]))
            await self._redis.rpush(reply, json.dumps(answers))
            await self._redis.expire(reply, 60)
        except Exception as exc:  # the asking worker stops waiting at its deadline
            log.warning("approval_question_unanswered", error=repr(exc))

    async def ask_approvals(self, question: Mapping[str, Any], wait: float) -> list[dict[str, Any]]:
        reply = secrets.token_hex(12)
        reply_key = self.key("reply", reply)
        loop = asyncio.get_running_loop()
        answers: list[dict[str, Any]] = []
        async with self._unavailable("ask the workers about an approval"):
            listeners = int(
                await self._redis.publish(
                    self.key("approvals"), json.dumps({**question, "reply": reply})
                )
            )
            deadline = loop.time() + wait
            heard = 0
            while heard < listeners:
                left = deadline - loop.time()
                if left <= 0:
                    break
                got = await self._blocking.blpop([reply_key], timeout=max(0.01, left))
                if got is None:
                    break
                heard += 1
                answers.extend(json.loads(got[1]))
            await self._redis.delete(reply_key)
        return answers

    async def forward(self, worker_id: str, call: Mapping[str, Any], wait: float) -> Any:
        reply = secrets.token_hex(12)
        message = json.dumps({**call, "reply": reply})
        channel = self.key("worker", worker_id)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RESUBSCRIBE_GRACE
        async with self._unavailable("forward a dispatch call to its run's worker"):
            while not await self._redis.publish(channel, message):
                if loop.time() >= give_up:
                    raise DispatchAuthError(
                        "the run has ended (its worker is gone)", forbidden=True
                    )
                await asyncio.sleep(0.1)
            async with asyncio.timeout(max(1, wait) + 5):
                got = await self._blocking.blpop([self.key("reply", reply)], timeout=max(1, wait))
        if got is None:
            raise CoordinatorUnavailableError(
                f"the worker running this run did not answer within {wait:.0f} s"
            )
        return json.loads(got[1])

    async def aclose(self) -> None:
        tasks = [t for t in (self._listener, *self._handling) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listener = None
        await self._redis.aclose()
        await self._blocking.aclose()


def _retrieved(future: asyncio.Future[Any]) -> None:
    # A shared read nobody awaits any more (its callers were cancelled) fails quietly.
    if not future.cancelled():
        future.exception()


def _check_settings(url: str, shown: str) -> None:
    """Refuse URL settings redis-py would only trip on at the first command (a traceback)."""
    import inspect

    from redis.asyncio.connection import (
        AbstractConnection,
        Connection,
        ConnectionPool,
        SSLConnection,
        parse_url,
    )

    try:
        settings = parse_url(url)
    except ValueError as exc:
        raise ConfigurationError(f"coordinator URL {shown}: {scrub(str(exc))}") from None
    known = {"connection_class", "max_connections"}
    for cls in (AbstractConnection, Connection, SSLConnection, ConnectionPool):
        known.update(inspect.signature(cls.__init__).parameters)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigurationError(
            f"coordinator URL {shown}: unknown setting {', '.join(unknown)}; "
            "see redis-py's URL settings (e.g. max_connections, socket_timeout)"
        )


def _keys_json(keys: SigningKeys, wrap: KeyWrap | None) -> str:
    if wrap is None:
        stored = {k: v.hex() for k, v in keys.keys.items()}
    else:
        stored = {k: wrap.wrap(k, v) for k, v in keys.keys.items()}
    return json.dumps(
        {
            "current": keys.current,
            "keys": stored,
            "retire_at": dict(keys.retire_at),
            "wrapped": wrap is not None,
        }
    )


def _keys_from_json(raw: bytes | str, wrap: KeyWrap | None) -> SigningKeys:
    data: Mapping[str, Any] = json.loads(raw)
    if data.get("wrapped"):
        if wrap is None:
            raise ConfigurationError(
                "the dispatch signing keys in Redis are wrapped: set "
                "COPASS_ROUTER_KEY_WRAP_SECRET on this worker as on the others"
            )
        keys = {str(k): wrap.unwrap(str(k), v) for k, v in data["keys"].items()}
    else:
        keys = {str(k): bytes.fromhex(v) for k, v in data["keys"].items()}
    return SigningKeys(
        str(data["current"]),
        keys,
        {str(k): float(v) for k, v in data.get("retire_at", {}).items()},
    )
