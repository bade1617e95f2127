"""Keeping a running turn's claim on its session alive in the store."""

from __future__ import annotations

import asyncio
import contextlib

from copass_router._logs import get_logger
from copass_router.store._base import SessionStore, TurnStart

log = get_logger("copass_router.store")


class LeaseKeeper:
    """Renews a turn's session lease every third of its length while the turn runs.

    A turn shorter than that costs no store call: the renewal is a timer, and a task exists
    only while a renewal is in flight.
    """

    __slots__ = ("_handle", "_start", "_store", "_task", "lost")

    def __init__(self, store: SessionStore, start: TurnStart) -> None:
        self._store = store
        self._start = start
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        #: True once the store said the claim was gone (the turn's record will be refused).
        self.lost = False

    def start(self) -> None:
        """Start renewing."""
        self._schedule()

    async def stop(self) -> None:
        """Stop renewing (before the turn's final record)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._start.lease_seconds / 3, self._fire)

    def _fire(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        sid = self._start.session.session_id
        try:
            kept = await self._store.renew_lease(sid, self._start.lease)
        except Exception as exc:  # the store is down: try again at the next tick
            log.warning("session_lease_renewal_failed", session_id=sid, error=repr(exc))
            kept = True
        if not kept:
            self.lost = True
            log.warning("session_lease_lost", session_id=sid, run_id=self._start.turn.run_id)
            return
        self._schedule()
