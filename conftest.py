"""Suite-wide watches: every run's stream keeps the stream grammar (docs/events.md), and secret
canaries: the test keys and every dispatch token the suite mints must never
appear in a log line, an event, a RouterError message or a hosted HTTP response.

The watch observes; it changes nothing. A leak fails the run at the end with the test that
produced it. (Hypothesis-generated and deliberately leaky inputs use other strings.)
"""

from __future__ import annotations

import contextlib
import logging
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _current["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _current["test"] = "(between tests)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _leaks:
        terminalreporter.section("SECRET CANARIES LEAKED", red=True)
        for test, where, secret in _leaks[:50]:
            terminalreporter.line(f"{test}: {secret} in {where}")
    else:
        count = len(CANARIES) + len(_tokens)
        terminalreporter.line(f"secret canaries: 0 leaked ({count} canaries watched)")
