"""The deployment's health as the console shows it: workers, the store, the coordinator, the
run log, providers and plugins. Each check is one round trip, bounded by ``CHECK_SECONDS``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import attrs

from copass_router._logs import scrub
from copass_router.run._router import Router
from copass_router.server._run_log import RunLog
from copass_router.server.console.board import WorkerBoard

CHECK_SECONDS = 3.0


@attrs.frozen
class Check:
    """One dependency: reachable or not, how long it took, and what failed."""

    name: str
    kind: str
    ok: bool
    millis: float
    detail: str = ""


async def _check(name: str, kind: str, probe: Awaitable[object]) -> Check:
    began = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await probe
    except Exception as exc:
        millis = (time.perf_counter() - began) * 1000
        detail = "timed out" if isinstance(exc, TimeoutError) else scrub(repr(exc))[:300]
        return Check(name, kind, False, millis, detail)
    return Check(name, kind, True, (time.perf_counter() - began) * 1000)


async def dependency_checks(router: Router, run_log: RunLog, board: WorkerBoard) -> list[Check]:
    """Whether the store, the coordinator, the run log and the console's board answer."""
    store = router.store
    coordinator = router.coordinator
    kinds = {
        "store": type(store).__name__,
        "coordinator": type(coordinator).__name__,
        "run log": type(run_log).__name__,
    }
    return list(
        await asyncio.gather(
            _check("store", kinds["store"], store.list_sessions(None, 1)),
            _check("coordinator", kinds["coordinator"], coordinator.signing_keys(refresh=True)),
            _check("run log", kinds["run log"], run_log.info("console-health-probe")),
            _check("worker board", "Redis" if board.shared else "memory", board.ping()),
        )
    )
