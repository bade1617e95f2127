"""Worker threads: the SQLite stores' serial worker (results, errors, order, cancels, work queued at
exit) and the sync tools' threads (context, parallelism, the cap, a stuck tool at exit)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from copass_router.tools._worker_threads import SerialWorker, ToolThreads


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
        from copass_router.tools._worker_threads import SerialWorker, ToolThreads

        async def main():
            worker = SerialWorker("w")
            worker.run(lambda: time.sleep(0.3))
            worker.run(lambda: Path({str(out)!r}).write_text("written"))

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert out.read_text() == "written"


async def test_queued_calls_come_back_in_one_wake_up_of_the_loop() -> None:
    worker = SerialWorker("test-worker")
    release = threading.Event()
    first = worker.run(lambda: release.wait(5))
    behind = [worker.run(lambda i=i: i) for i in range(3)]  # queued while the first runs
    woken: list[int] = []
    loop = asyncio.get_running_loop()
    original = loop.call_soon_threadsafe

    def counting(*args: object, **kwargs: object) -> object:
        woken.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        release.set()
        assert await first is True
        assert await asyncio.gather(*behind) == [0, 1, 2]
    finally:
        del loop.call_soon_threadsafe
    assert woken == [1]  # the four outcomes travelled together
    worker.shutdown()


async def test_sync_tools_run_in_the_callers_context_on_threads_of_their_own() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    request_id.set("r-1")
    threads = ToolThreads("test-tool", max_threads=4)

    def seen(x: int) -> tuple[str, str, int]:
        return request_id.get(), threading.current_thread().name, x

    value, thread, x = await threads.run(seen, x=3)
    assert (value, x) == ("r-1", 3)
    assert thread.startswith("test-tool-") and thread != threading.current_thread().name

    def boom() -> None:
        raise ValueError("tool broke")

    with pytest.raises(ValueError, match="tool broke"):
        await threads.run(boom)


async def test_sync_tools_run_in_parallel_up_to_the_cap_then_wait_in_order() -> None:
    threads = ToolThreads("test-tool", max_threads=2)
    barrier = threading.Barrier(2, timeout=5)  # both must be running at once to pass it
    order: list[str] = []

    def meet(name: str) -> str:
        barrier.wait()
        order.append(name)
        return name

    assert sorted(await asyncio.gather(threads.run(meet, name="a"), threads.run(meet, name="b")))
    gate = threading.Event()

    def held(name: str) -> str:
        gate.wait(5)
        order.append(name)
        return name

    calls = [threads.run(held, name=n) for n in ("c", "d", "e")]  # e waits for a thread
    await asyncio.sleep(0.2)
    assert "e" not in order and threads._threads == 2  # never more threads than the cap
    gate.set()
    assert await asyncio.gather(*calls) == ["c", "d", "e"]


def test_a_stuck_sync_tool_never_holds_up_the_exit(tmp_path: Path) -> None:
    # Through a router, as README.md says: the tool times out, the turn ends, and the process
    # exits while the tool's thread still sleeps (a default executor would wait a minute).
    script = textwrap.dedent(
        """
        import time
        from copass_router import Router, tool

        @tool(timeout=0.2)
        def stuck() -> str:
            time.sleep(60)
            return "late"

        router = Router(store=":memory:", load_entry_points=False, tools=[stuck], environ={})
        result = router.run_sync(provider="echo", message="/tool stuck {}")
        print(result.tool_results[0].output)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=True
    )
    assert "timed out after 0.2 s" in done.stdout
