"""``python -m soak.run_soak [--seconds 60] [--concurrency 1000] [--provider echo|anthropic]``

A bounded soak of the hosted router, loopback only. For each provider (echo, then anthropic
unless ``--provider`` picks one) it starts a hosted worker in its own process (and, for
anthropic, the Anthropic emulator in another, as the real API would be), keeps
``--concurrency`` streaming turns in flight through one RemoteRouter for ``--seconds``, lets
the last turns finish, and reports: turns completed, errors (target 0), the worker's memory
from start to end (flat), and the connections still open at the end (target 0). It stops by
itself: every turn, start, stop and drain has a time bound. Exit status 0 when every target
held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import httpx

from copass_router import RemoteRouter

from .load import RUN_TIMEOUT, Tally, script, slot
from .processes import Child, emulator_argv, free_port, running, worker_argv
from .procfs import cpu_seconds, fd_count, rss_kib, tcp_sockets

ANTHROPIC_KEY = "sk-ant-soak-0123456789abcdef"  # the emulator takes any key
DRAIN_SECONDS = RUN_TIMEOUT + 30.0  # after the deadline: turns in flight get this long
CLOSE_SECONDS = 10.0  # for the worker to see the client's sockets close
LEVELS = ("WARNING", "ERROR", "CRITICAL")


@attrs.define
class Memory:
    """The worker's resident memory over the soak, in KiB."""

    idle: int = 0
    warmed: int = 0  # half way through the load: pools, caches and connections in place
    end_of_load: int = 0
    after: int = 0
    peak: int = 0
    samples: list[tuple[float, int, int]] = attrs.field(factory=list)  # (s, KiB, in flight)


@attrs.define
class Outcome:
    """One provider's soak."""

    provider: str
    seconds: float
    concurrency: int
    tally: Tally
    memory: Memory
    wall: float = 0.0
    stuck: int = 0
    cpu: float = 0.0
    client_cpu: float = 0.0
    clients: int = 0
    fds: tuple[int, int] = (0, 0)
    inbound_open: int = 0
    outbound_open: int = 0
    client_open: int = 0
    worker_log: list[str] = attrs.field(factory=list)
    emulator_rss: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.tally.errors == 0 and self.stuck == 0 and self.inbound_open == 0


async def _sample(
    pid: int, tally: Tally, memory: Memory, start: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        rss = rss_kib(pid)
        memory.samples.append((time.monotonic() - start, rss, tally.in_flight))
        memory.peak = max(memory.peak, rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _wait_inbound_closed(worker: Child) -> int:
    """The worker's connections from clients once they have had time to close (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_SECONDS
    while True:
        inbound = [
            s
            for s in tcp_sockets(worker.pid)
            if s.local_port == worker.port and s.state != "LISTEN"
        ]
        if not inbound or loop.time() > deadline:
            return len(inbound)
        await asyncio.sleep(0.2)


async def _load(
    worker: Child, outcome: Outcome, words: float, ramp: float, per_client: int
) -> None:
    """The soak proper, against a started worker."""
    n, tally, memory = outcome.concurrency, outcome.tally, outcome.memory
    turns = script(words)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        # Several clients with small pools: httpx's pool does work per request that grows with
        # its number of connections, and one pool of 1,000 made the load generator, not the
        # worker, the bottleneck.
        remotes = []
        for _ in range(-(-n // per_client)):
            limits = httpx.Limits(
                max_connections=per_client + 8, max_keepalive_connections=per_client + 8
            )
            transport = httpx.AsyncHTTPTransport(limits=limits)
            remotes.append(
                await stack.enter_async_context(
                    RemoteRouter(worker.url, timeout=RUN_TIMEOUT, transport=transport)
                )
            )
        outcome.clients = len(remotes)
        warm = Tally()
        await slot(remotes[0], warm, outcome.provider, -1, loop.time() + 0.001, turns)
        if warm.errors:
            tally.fail(f"warm-up failed: {dict(warm.error_kinds)}")
            return
        memory.idle, cpu_start = rss_kib(worker.pid), cpu_seconds(worker.pid)
        client_cpu_start = cpu_seconds(os.getpid())
        stop, start = asyncio.Event(), time.monotonic()
        sampler = asyncio.create_task(_sample(worker.pid, tally, memory, start, stop))
        deadline = loop.time() + outcome.seconds

        async def staggered(index: int) -> None:
            await asyncio.sleep(ramp * index / n)  # a ramp, not a thundering herd
            remote = remotes[index // per_client]
            await slot(remote, tally, outcome.provider, index, deadline, turns)

        async def mark_warmed() -> None:
            await asyncio.sleep(outcome.seconds / 2)
            memory.warmed = rss_kib(worker.pid)
            await asyncio.sleep(max(outcome.seconds / 2 - 1.0, 0.0))
            memory.end_of_load = rss_kib(worker.pid)

        marker = asyncio.create_task(mark_warmed())
        tasks = [asyncio.create_task(staggered(i)) for i in range(n)]
        _, pending = await asyncio.wait(tasks, timeout=outcome.seconds + DRAIN_SECONDS)
        outcome.wall = time.monotonic() - start
        for task in pending:
            task.cancel()
        outcome.stuck = len(pending)
        if pending:
            await asyncio.wait(pending, timeout=10)
        await asyncio.wait({marker}, timeout=1)
        marker.cancel()
        stop.set()
        await asyncio.wait({sampler}, timeout=5)
        outcome.cpu = cpu_seconds(worker.pid) - cpu_start
        outcome.client_cpu = cpu_seconds(os.getpid()) - client_cpu_start
    mine = tcp_sockets(os.getpid())
    outcome.client_open = len([s for s in mine if s.remote_port == worker.port])


async def soak(
    provider: str, seconds: float, concurrency: int, words: float, ramp: float, per_client: int
) -> Outcome:
    """Soak one provider; the worker (and emulator) run for exactly this call."""
    outcome = Outcome(provider, seconds, concurrency, Tally(), Memory())
    with tempfile.TemporaryDirectory(prefix=f"copass-soak-{provider}-") as tmp:
        log_dir = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            # Loopback only, no keys, no caps on runs in flight (the soak's point is concurrency).
            env = {
                "COPASS_ROUTER_API_KEYS": "",
                "COPASS_ROUTER_MAX_RUNS": "0",
                "COPASS_ROUTER_MAX_RUNS_PER_KEY": "0",
                "COPASS_ROUTER_MAX_CONNECTIONS": "4000",
            }
            emulator: Child | None = None
            if provider == "anthropic":
                port = free_port()
                emulator = await stack.enter_async_context(
                    running("emulator", emulator_argv("anthropic", port), port, {}, log_dir)
                )
                env |= {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": emulator.url}
                emulator_start = rss_kib(emulator.pid)
            port = free_port()
            worker = await stack.enter_async_context(
                running("worker", worker_argv(port), port, env, log_dir)
            )
            fds_start = fd_count(worker.pid)  # before any client connected
            await _load(worker, outcome, words, ramp, per_client)
            outcome.inbound_open = await _wait_inbound_closed(worker)
            outcome.fds = (fds_start, fd_count(worker.pid))
            outcome.memory.after = rss_kib(worker.pid)
            if emulator is not None:
                outcome.outbound_open = len(
                    [s for s in tcp_sockets(worker.pid) if s.remote_port == emulator.port]
                )
                outcome.emulator_rss = (emulator_start, rss_kib(emulator.pid))
        outcome.worker_log = worker.log_lines()  # the worker has stopped; its log is whole
    return outcome


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _timeline(samples: Sequence[tuple[float, int, int]], seconds: float) -> str:
    """The RSS at about every tenth of the load."""
    marks: list[str] = []
    step, shown = seconds / 10, -1.0
    for at, kib, _ in samples:
        if at >= shown + step or not marks:
            marks.append(f"{at:.0f}: {kib / 1024:.0f}")
            shown = at
    return ", ".join(marks)


def report(outcome: Outcome) -> str:
    """The figures of one provider's soak, as Markdown."""
    t, m = outcome.tally, outcome.memory
    growth = m.end_of_load - m.warmed
    logged = [line for line in outcome.worker_log if line.startswith(LEVELS)]
    problems = [line for line in logged if not line.startswith("WARNING")]
    lines = [
        f"### {outcome.provider}: {outcome.concurrency} concurrent streaming turns, "
        f"{outcome.seconds:g} s",
        "",
        f"- turns completed: {t.runs} ({t.runs / outcome.wall:.0f}/s over {outcome.wall:.1f} s "
        f"including the drain); sessions deleted: {t.deletes}",
        f"- errors: {t.errors}; turns still running after the drain bound: {outcome.stuck}",
        f"- peak turns in flight: {t.peak_in_flight}",
        f"- time to first event: p50 {_percentile(t.first_event_ms, 0.5):.0f} ms, "
        f"p99 {_percentile(t.first_event_ms, 0.99):.0f} ms; whole turn p50 "
        f"{_percentile(t.turn_ms, 0.5):.0f} ms, p99 {_percentile(t.turn_ms, 0.99):.0f} ms",
        f"- worker RSS (KiB): idle {m.idle}, half way through the load {m.warmed}, at its end "
        f"{m.end_of_load} ({growth:+d}, {100 * growth / max(m.warmed, 1):+.1f}%), "
        f"peak {m.peak}, after the drain {m.after}",
        f"- worker RSS over the load (s: MiB): {_timeline(m.samples, outcome.seconds)}",
        f"- worker CPU during the soak: {outcome.cpu:.1f} s "
        f"({100 * outcome.cpu / max(outcome.wall, 1e-9):.0f}% of one core)",
        f"- load generator CPU (this process, {outcome.clients} RemoteRouters): "
        f"{outcome.client_cpu:.1f} s",
        f"- worker file descriptors: {outcome.fds[0]} before the first client, "
        f"{outcome.fds[1]} after the last closed",
        f"- open connections at the end: client->worker {outcome.inbound_open} on the worker, "
        f"{outcome.client_open} on the client",
        f"- worker log: {len(logged)} warning lines and over, {len(problems)} ERROR or worse",
    ]
    if outcome.emulator_rss is not None:
        lines.append(
            f"- worker->emulator keep-alive connections (the SDK's pool, closed with the "
            f"router): {outcome.outbound_open}; emulator RSS (KiB) {outcome.emulator_rss[0]} "
            f"-> {outcome.emulator_rss[1]}"
        )
    for kind, count in t.error_kinds.most_common(5):
        lines.append(f"  - {count} x {kind}")
    for line in logged[:5]:
        lines.append(f"  - worker: {line[:200]}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m soak.run_soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument("--concurrency", type=int, default=1000, help="turns in flight (1000)")
    parser.add_argument(
        "--provider", choices=["echo", "anthropic"], help="only this one (default: both)"
    )
    parser.add_argument(
        "--word-pause", type=float, default=0.05, help="seconds between streamed words (0.05)"
    )
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds to start all slots (2)")
    parser.add_argument(
        "--per-client", type=int, default=50, help="turns per RemoteRouter and its pool (50)"
    )
    return parser


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 0 when every target held."""
    args = _parser().parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.per_client < 1:
        print("--seconds, --concurrency and --per-client must be positive", file=sys.stderr)
        return 2
    ok = True
    for provider in [args.provider] if args.provider else ["echo", "anthropic"]:
        with _runner() as runner:
            outcome = runner.run(
                soak(
                    provider,
                    args.seconds,
                    args.concurrency,
                    args.word_pause,
                    args.ramp,
                    args.per_client,
                )
            )
        print(report(outcome), flush=True)
        print(flush=True)
        ok = ok and outcome.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
