"""The SQLite stores' worker thread: results, errors, order, cancels, and work queued at exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from copass_router.store.worker import SerialWorker


async def test_results_errors_and_order_come_back_to_the_awaiting_coroutine() -> None:
    worker = SerialWorker("test-worker")
    seen: list[int] = []
    threads: set[str] = set()

    def step(i: int) -> int:
        seen.append(i)
        threads.add(threading.current_thread().name)
        return i * 2

    results = await asyncio.gather(*(worker.run(lambda i=i: step(i)) for i in range(20)))
    assert results == [i * 2 for i in range(20)]
    assert seen == list(range(20))  # one after another, in the order queued
    assert threads == {"test-worker"}  # never on the event loop's thread

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await worker.run(fail)
    assert await worker.run(lambda: "still serving") == "still serving"
    worker.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        worker.run(lambda: None)


async def test_a_call_whose_waiter_is_cancelled_still_runs_to_its_end() -> None:
    worker = SerialWorker("test-worker")
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        done.append("committed")

    waiter = asyncio.ensure_future(worker.run(slow))
    await asyncio.to_thread(started.wait, 5)
    waiter.cancel()
    release.set()
    assert await worker.run(lambda: list(done)) == ["committed"]  # never cut in half
    worker.shutdown()


def test_work_queued_when_the_interpreter_exits_is_finished(tmp_path: Path) -> None:
    # The loop ends while a write is queued behind a slow one (nobody awaits it any more):
    # the write still lands before the process exits, as with a thread pool.
    out = tmp_path / "out.txt"
    script = textwrap.dedent(
        f"""
        import asyncio, time
        from pathlib import Path
        from copass_router.store.worker import SerialWorker

        async def main():
            worker = SerialWorker("w")
            worker.run(lambda: time.sleep(0.3))
            worker.run(lambda: Path({str(out)!r}).write_text("written"))

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert out.read_text() == "written"
