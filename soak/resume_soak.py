"""``python -m soak.resume_soak [--runs 1000] [--concurrency 50] [--redis URL]``

Hosted runs through a connection that drops at random: each run streams ``--deltas`` text
deltas through RemoteRouter, via a loopback proxy that cuts each connection with probability
``--cut-p`` at a random byte, so a run is cut and resumed several times. Every run's events are
checked against what the backend produced: events lost and events duplicated (targets 0 and 0),
seqs in order, one ``run_finished`` with ``end_turn``. With ``--redis``, two workers share Redis
and a SQLite store, and each connection (resumes included) goes to either worker at random.
Loopback only; bounded by ``--timeout``. Exit status 0 when nothing was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs

from copass_router import (
    AgentBackend,
    Event,
    RemoteRouter,
    Router,
    RunFinished,
    StopReason,
    TextDelta,
    Turn,
    hookimpl,
)
from copass_router.server import create_app, start_server
from copass_router.server._run_log import RunLog
from copass_router.server._run_log_memory import MemoryRunLog

from .cut_proxy import RandomCutProxy

HEADERS = 400  # bytes: a POST /v1/runs response's status line and headers fit in this


class DripBackend(AgentBackend):
    """Yields ``deltas`` numbered text deltas, ``pause`` seconds apart (a model streaming)."""

    default_model = "drip-1"

    def __init__(self, deltas: int, pause: float) -> None:
        self.deltas = deltas
        self.pause = pause

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        for i in range(self.deltas):
            await asyncio.sleep(self.pause)
            yield TextDelta(text=f"{i};")


class DripPlugin:
    def __init__(self, backend: DripBackend) -> None:
        self.backend = backend

    @hookimpl
    def copass_router_register_backends(self, register: Callable[..., None]) -> None:
        register("drip", lambda context: self.backend)


@attrs.define
class Tally:
    runs: int = 0
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unfinished: int = 0
    failed: list[str] = attrs.field(factory=list)


def check(events: list[Event], deltas: int, tally: Tally) -> None:
    """Count what one run's client saw against what its backend produced."""
    tally.runs += 1
    tally.events += len(events)
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    expected = [f"{i};" for i in range(deltas)]
    tally.lost += len(set(expected) - set(texts))
    tally.duplicated += len(texts) - len(set(texts))
    seqs = [e.seq for e in events]
    if seqs != sorted(set(seqs)) or seqs != list(range(len(seqs))):
        tally.out_of_order += 1
    finished = events[-1] if events else None
    if not isinstance(finished, RunFinished) or finished.stop_reason is not StopReason.END_TURN:
        tally.unfinished += 1
        tally.failed.append(repr(events[-2:])[:300])


@contextlib.asynccontextmanager
async def workers(args: argparse.Namespace, backend: DripBackend) -> AsyncIterator[list[int]]:
    """Start one hosted worker (memory log) or two sharing Redis; yield their ports."""
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'sessions.db'}"
        prefix = f"copass-soak-{uuid.uuid4().hex[:8]}:"
        started: list[tuple[Router, Any]] = []
        logs: list[RunLog] = []
        for _ in range(2 if args.redis else 1):
            router = Router(
                store=store, load_entry_points=False, environ={}, plugins=[DripPlugin(backend)]
            )
            log: RunLog
            if args.redis:
                from copass_router.server._run_log_redis import RedisRunLog

                log = RedisRunLog(args.redis, prefix=prefix)
            else:
                log = MemoryRunLog()
            logs.append(log)
            app = create_app(router, api_keys=[], heartbeat=5.0, run_log=log)
            state = app.state.copass_router
            server = await start_server(app, before_shutdown=lambda s=state: s.drain(5))
            started.append((router, server))
        try:
            yield [int(server.base_url.rsplit(":", 1)[1]) for _, server in started]
        finally:
            for router, server in started:
                await server.aclose()
                await router.aclose()
            if args.redis:
                await _forget(args.redis, prefix)


async def _forget(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def soak(args: argparse.Namespace) -> Tally:
    backend = DripBackend(args.deltas, args.pause)
    tally = Tally()
    async with workers(args, backend) as ports:
        # Cuts start past the POST's response headers: before them the client cannot know the
        # run's id (it raises router_unreachable, as it always has); resumes are cut anywhere.
        proxy = RandomCutProxy(ports, args.cut_p, (HEADERS, args.deltas * 120), seed=args.seed)
        async with proxy, RemoteRouter(proxy.url, resume_retries=10) as remote:
            gate = asyncio.Semaphore(args.concurrency)

            async def one(n: int) -> None:
                async with gate:
                    events = [
                        e
                        async for e in remote.run(
                            provider="drip", message="go", end_user_id=f"u-{n % 97}"
                        )
                    ]
                check(events, args.deltas, tally)

            start = time.perf_counter()
            await asyncio.gather(*(one(n) for n in range(args.runs)))
            elapsed = time.perf_counter() - start
        where = "2 workers, Redis" if args.redis else "1 worker, memory"
        print(
            f"runs {tally.runs}  events {tally.events}  connections {proxy.connections}  "
            f"cut {proxy.cut}  in {elapsed:.1f} s  ({where})"
        )
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.resume_soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--deltas", type=int, default=60)
    parser.add_argument("--pause", type=float, default=0.002)
    parser.add_argument("--cut-p", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis", default=None, help="redis://... : two workers share it")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    tally = asyncio.run(asyncio.wait_for(soak(args), args.timeout))
    print(
        f"lost {tally.lost}  duplicated {tally.duplicated}  out of order {tally.out_of_order}  "
        f"unfinished {tally.unfinished}  (targets: 0 0 0 0)"
    )
    for failure in tally.failed[:5]:
        print("  unfinished:", failure)
    ok = not (tally.lost or tally.duplicated or tally.out_of_order or tally.unfinished)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
