"""One thread that runs a SQLite connection's calls in order, off the event loop.

A lighter hop than ``loop.run_in_executor`` on a one-thread ``ThreadPoolExecutor``: the loop side
is a queue put and a loop future, and the thread hands the outcome back with one
``call_soon_threadsafe``; no ``concurrent.futures.Future`` chained to an asyncio one. A call whose
awaiting task is cancelled still runs to its end (as an executor's would), so a transaction
is never cut in half; work queued when the interpreter exits is finished first.
"""

from __future__ import annotations

import asyncio
import atexit
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]

#: Threads that may still have queued work, with their queues (joined at exit).
_running: dict[threading.Thread, queue.SimpleQueue[_Job | None]] = {}


class SerialWorker:
    """Runs functions one after another on its own thread (started on first use; it ends on
    :meth:`shutdown` or when the worker is garbage-collected)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``fn``; the future the running loop gets its result or exception from."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is shut down")
            if self._thread is None:
                # A daemon thread that holds only its queue, so a store nobody closed never
                # keeps the interpreter or the thread alive; _drain_at_exit still lets it
                # finish what was queued.
                thread = threading.Thread(
                    target=_work, args=(self._jobs,), name=self._name, daemon=True
                )
                _running[thread] = self._jobs
                thread.start()
                self._thread = thread
                weakref.finalize(self, self._jobs.put, None)

    def shutdown(self) -> None:
        """Let the thread finish what is queued, then end (without waiting for it)."""
        with self._lock:
            self._closed = True
            if self._thread is not None:
                self._jobs.put(None)
                self._thread = None  # run() now refuses new work


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    try:
        while (job := jobs.get()) is not None:
            fn, loop, future = job
            try:
                result, error = fn(), None
            except BaseException as exc:
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for the outcome
                pass
            del job, fn, loop, future, result, error
    finally:
        _running.pop(threading.current_thread(), None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


@atexit.register
def _drain_at_exit() -> None:
    for thread, jobs in list(_running.items()):
        jobs.put(None)
        thread.join()
