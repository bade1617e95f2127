"""Suite-wide watches: every run's stream keeps the stream grammar (docs/events.md), and secret
canaries: the test keys and every dispatch token the suite mints must never
appear in a log line, an event, a RouterError message or a hosted HTTP response.

The watch observes; it changes nothing. A leak fails the run at the end with the test that
produced it. (Hypothesis-generated and deliberately leaky inputs use other strings.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from copass_router import RouterError, event_to_json

#: The credentials the test suite hands to routers, servers and emulators.
CANARIES = {
    "sk-ant-api03-TESTKEY0123456789abcdefABCDEF",  # anthropic plugin tests
    "sk-test-emulator-0123456789",  # openai plugin tests
    "alpha-key-0123456789abcdef",  # hosted API keys
    "beta-key-0123456789abcdef",
    "sk-ant-api03-PORTABLE0123456789abcdef",  # cross-provider tests
    "sk-portable-0123456789abcdef",
    "sk-ant-api03-RELIABLE0123456789abcdef",  # fault suite
    "sk-reliable-0123456789abcdef",
}
_tokens: set[str] = set()
_leaks: list[tuple[str, str, str]] = []
_current = {"test": "(collection)"}


def _scan(where: str, text: str) -> None:
    for secret in CANARIES | _tokens:
        if secret in text:
            _leaks.append((_current["test"], where, secret[:12] + "…"))


class _LogWatch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _scan(f"log {record.name}", record.getMessage())
        except Exception:  # a watcher must never break logging
            pass


def pytest_configure(config: pytest.Config) -> None:
    """The default store and ledger (under XDG_DATA_HOME) of this process's own: tests run in
    several processes side by side and never touch the data of the user running them."""
    data = tempfile.mkdtemp(prefix="copass-router-test-data-")
    os.environ["XDG_DATA_HOME"] = data
    config.add_cleanup(lambda: shutil.rmtree(data, ignore_errors=True))


@pytest.fixture(scope="session", autouse=True)
def _watch_for_secrets() -> Iterator[None]:
    from copass_router.run import _run_loop as run_loop
    from copass_router.run import _tokens as tokens

    handler = _LogWatch(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    patch = pytest.MonkeyPatch()

    real_mint = tokens.mint_token

    def mint(*args: Any, **kwargs: Any) -> str:
        token = real_mint(*args, **kwargs)
        _tokens.add(token)
        return token

    patch.setattr(tokens, "mint_token", mint)
    patch.setattr("copass_router.run._run_turns.mint_token", mint)

    real_stamp = run_loop.TurnRunner._stamp

    def stamp(self: Any, event: Any) -> Any:
        stamped = real_stamp(self, event)
        _scan(f"event {stamped.type}", event_to_json(stamped))
        return stamped

    patch.setattr(run_loop.TurnRunner, "_stamp", stamp)

    real_init = RouterError.__init__

    def init(self: Exception, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        _scan(f"error {type(self).__name__}", str(self))

    patch.setattr(RouterError, "__init__", init)
    _watch_http(patch)
    _watch_streams(patch)
    yield
    patch.undo()
    root.removeHandler(handler)
    root.setLevel(previous_level)


#: The transcript turn each in-process run stored, by run id (read by the stream watch).
_stored: dict[str, Any] = {}


def _checked(events: Any, where: str) -> Any:
    """``events`` (a run's async generator) passed through a :class:`StreamChecker`: a grammar
    violation raises in the consumer's loop, failing the test that read the stream; the turn
    the run stored must hold the stream's tool calls and results in the stream's order."""
    from copass_router.testing import StreamChecker

    async def stream() -> Any:
        checker = StreamChecker(f"{where} in {_current['test']}")
        async with contextlib.aclosing(events) as inner:
            async for event in inner:
                checker.feed(event)
                yield event
        checker.finish()
        stored = _stored.pop(checker.events[0].run_id, None)
        if stored is not None:
            checker.check_transcript(stored)

    return stream()


def _watch_streams(patch: pytest.MonkeyPatch) -> None:
    from copass_router import RemoteRouter, Router
    from copass_router.run import _router as router

    real_run, real_remote_run, real_store_turn = Router.run, RemoteRouter.run, router.store_turn

    def run(self: Router, request: Any = None, /, **fields: Any) -> Any:
        return _checked(real_run(self, request, **fields), "Router.run")

    def remote_run(self: RemoteRouter, request: Any = None, /, **fields: Any) -> Any:
        return _checked(real_remote_run(self, request, **fields), "RemoteRouter.run")

    async def store_turn(store: Any, start: Any, record: Any, *args: Any) -> None:
        _stored[record.run_id] = record  # seen without a store call of its own
        await real_store_turn(store, start, record, *args)

    patch.setattr(Router, "run", run)
    patch.setattr(RemoteRouter, "run", remote_run)
    patch.setattr(router, "store_turn", store_turn)


def _watch_http(patch: pytest.MonkeyPatch) -> None:
    try:
        from starlette.responses import JSONResponse
    except ImportError:  # the server extra is not installed
        return
    real_render = JSONResponse.render

    def render(self: Any, content: Any) -> bytes:
        body: bytes = real_render(self, content)
        _scan("http json response", body.decode("utf-8", "replace"))
        return body

    patch.setattr(JSONResponse, "render", render)


#: The test files that take longest, started first: run side by side (``make test``, one file
#: per process), a long file left for the end would keep the run waiting on it alone.
LONG_FILES = (
    "tests/docs/test_doc_commands.py",
    "tests/inputs/test_inputs_dispatch.py",
    "tests/portable/test_demo.py",
    "tests/scale/test_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _current["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _current["test"] = "(between tests)"


def _report() -> dict[str, Any]:
    """What this process saw: the leaks, how many canaries it watched, the services that did not
    answer (sent from each xdist worker to the controller, which prints the one summary)."""
    services = sys.modules.get("tests.services")  # imported by the tests that need a service
    unreachable = services.unreachable() if services is not None else []
    return {"leaks": list(_leaks), "tokens": len(_tokens), "unreachable": unreachable}


#: Every xdist worker's report, gathered by the controller (empty when not under xdist).
_worker_reports: list[dict[str, Any]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller keeps what a worker saw (pytest-xdist's hook)."""
    report = getattr(node, "workeroutput", {}).get("copass_router_watch")
    if report is not None:
        _worker_reports.append(report)


def _reports() -> list[dict[str, Any]]:
    return [_report(), *_worker_reports]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["copass_router_watch"] = _report()
        return
    if any(report["leaks"] for report in _reports()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: The fault suite's tally: how many fault scenarios ran and how many held. Counted from the
#: reports, which reach the controller from every xdist worker.
_tally: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith("tests/reliability/") or report.when != "call":
        return
    if hasattr(report, "wasxfail"):
        _tally["xpassed" if report.passed else "known bug (xfail)"] += 1
    elif not report.skipped:
        _tally["held" if report.passed else "not held"] += 1


#: The setting that points the tests at each service.
_SERVICE_SETTING = {
    "PostgreSQL": "COPASS_ROUTER_TEST_POSTGRES",
    "Redis": "COPASS_ROUTER_TEST_REDIS",
}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _tally:
        counts = ", ".join(f"{n} {what}" for what, n in sorted(_tally.items()))
        terminalreporter.line(f"reliability: {sum(_tally.values())} fault scenarios: {counts}")
    reports = _reports()
    leaks = [tuple(leak) for report in reports for leak in report["leaks"]]
    if leaks:
        terminalreporter.section("SECRET CANARIES LEAKED", red=True)
        for test, where, secret in leaks[:50]:
            terminalreporter.line(f"{test}: {secret} in {where}")
    else:
        count = len(CANARIES) + sum(report["tokens"] for report in reports)
        terminalreporter.line(f"secret canaries: 0 leaked ({count} canaries watched)")
    unreachable = sorted({tuple(u) for report in reports for u in report["unreachable"]})
    for service, url, why in unreachable:  # one loud line per service, from every process
        terminalreporter.write_line(
            f"{service} cases SKIPPED, {url} unreachable ({why}); "
            f"set {_SERVICE_SETTING[service]} or start the service",
            red=True,
            bold=True,
        )
