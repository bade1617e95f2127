"""Threads that run blocking calls off the event loop, lighter than ``loop.run_in_executor``.

The loop side of a call is a queue put and a loop future, and the thread hands the outcome back
with ``call_soon_threadsafe``: no ``concurrent.futures.Future`` chained to an asyncio one (about
half the CPU of ``asyncio.to_thread`` per call). A call whose awaiting task is cancelled still
runs to its end, as an executor's would.

- :class:`SerialWorker`: one thread, calls in order (a SQLite connection's). Calls queued while
  the thread was busy (a turn's usage write behind its final record, many runs' calls under
  load) run back to back and their outcomes travel in one ``call_soon_threadsafe``: one wake-up
  of the loop, not one each (at most :data:`BATCH` calls, so the first is never held long).
  A transaction is never cut in half; work queued when the interpreter exits is finished first.
- :class:`ToolThreads`: up to N threads for sync tools, started as calls need them; each call
  runs in a copy of the caller's context (as ``asyncio.to_thread``). The threads are daemons: a
  tool stuck past its timeout never holds up the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
import os
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


#: The most calls whose outcomes wait for one another to travel in one wake-up.
BATCH = 8

_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

#: What ``_work`` holds when the queue ran dry: wait for the next call.
_WAIT = object()


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    try:
        job: Any = jobs.get()
        while job is not None:
            done: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
            for _ in range(BATCH):
                fn, loop, future = job
                try:
                    outcome: _Outcome = (future, fn(), None)
                except BaseException as exc:
                    outcome = (future, None, exc)
                done.setdefault(loop, []).append(outcome)
                try:
                    job = jobs.get_nowait()  # queued meanwhile: run it before waking the loop
                except queue.Empty:
                    job = _WAIT
                    break
                if job is None:
                    break
            for loop, outcomes in done.items():
                try:
                    loop.call_soon_threadsafe(_settle, outcomes)
                except RuntimeError:  # the loop is closed: nobody waits for the outcomes
                    pass
            del done, fn, loop, future, outcome, outcomes
            if job is _WAIT:
                job = jobs.get()
    finally:
        _running.pop(threading.current_thread(), None)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


@atexit.register
def _drain_at_exit() -> None:
    for thread, jobs in list(_running.items()):
        jobs.put(None)
        thread.join()


class ToolThreads:
    """Runs sync tools on up to ``max_threads`` daemon threads (default as a thread pool
    executor's: ``min(32, cpus + 4)``), started as calls need them and kept for later calls.
    Calls beyond that wait for a thread, in order."""

    def __init__(self, name: str = "copass-tool", max_threads: int | None = None) -> None:
        self._name = name
        self._max = max_threads or min(32, (os.cpu_count() or 1) + 4)
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child has none of the threads

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = 0
        #: Threads waiting for a call that no queued call has claimed yet.
        self._free = 0

    def run(self, fn: Callable[..., T], /, **kwargs: Any) -> asyncio.Future[T]:
        """Queue ``fn(**kwargs)`` in a copy of the current context; the future the running loop
        gets its result or exception from."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        call = functools.partial(contextvars.copy_context().run, fn, **kwargs)
        with self._lock:
            if self._free:
                self._free -= 1
            elif self._threads < self._max:
                name = f"{self._name}-{self._threads + 1}"
                threading.Thread(target=self._serve, name=name, daemon=True).start()
                self._threads += 1  # (counted once it runs: a failed start raises here)
        self._jobs.put((call, loop, future))
        return future

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            fn, loop, future = jobs.get()
            try:
                outcome: _Outcome = (future, fn(), None)
            except BaseException as exc:
                outcome = (future, None, exc)
            with self._lock:  # free before the loop hears of it: its next call may come at once
                self._free += 1
            try:
                loop.call_soon_threadsafe(_settle, [outcome])
            except RuntimeError:  # the loop is closed: nobody waits for the outcome
                pass
            del fn, loop, future, outcome
