"""``copass-router serve``: the hosted router as a process.

Refuses to listen beyond loopback without API keys. On SIGTERM or Ctrl-C it stops accepting,
lets running turns finish for a grace period, then cancels the rest (their clients receive
``RunFinished(cancelled)``) and closes the router. A second Ctrl-C quits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

import attrs

from copass_router._errors import ConfigurationError
from copass_router._logs import get_logger
from copass_router.run._router import Router
from copass_router.server._admission import RunLimits
from copass_router.server._app import DEFAULT_HEARTBEAT, create_app
from copass_router.server._startup import prepare
from copass_router.server.console.access import admin_key_from
from copass_router.serving._auth import KEYS_ENV, ApiKeys, is_loopback
from copass_router.serving._connections import ConnectionLimits
from copass_router.serving._dispatch_endpoint import DISPATCH_PATH
from copass_router.serving._listener import RouterServer, base_url, bind_socket, uvicorn_config
from copass_router.serving._payloads import MAX_BODY_BYTES
from copass_router.store import SessionStore

log = get_logger("copass_router.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_GRACE = 30.0
PROXIES_ENV = "COPASS_ROUTER_TRUSTED_PROXIES"


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    store: SessionStore | str | None = None,
    api_keys: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    grace: float = DEFAULT_GRACE,
    heartbeat: float = DEFAULT_HEARTBEAT,
    public_url: str | None = None,
    router: Router | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    run_limits: RunLimits | None = None,
    connection_limits: ConnectionLimits | None = None,
    trusted_proxies: Sequence[str] | None = None,
    workers: int = 1,
) -> int:
    """Serve the hosted router until SIGTERM/SIGINT; return the process exit code.

    :param host: address to listen on; anything but loopback needs API keys.
    :param port: port to listen on (0: a free one, printed at start).
    :param store: session store or URL (default ``COPASS_ROUTER_STORE`` / the user data dir).
    :param api_keys: accepted keys; None reads ``COPASS_ROUTER_API_KEYS``.
    :param environ: the environment for keys and backends (default ``os.environ``).
    :param grace: seconds running turns get to finish at shutdown before they are cancelled.
    :param heartbeat: seconds of quiet before a stream gets a heartbeat comment.
    :param public_url: the URL deployed agents reach this server at (for the dispatch
        callback), when it differs from ``http://host:port``.
    :param router: serve this router instead of building one (its owner closes it).
    :param max_body_bytes: larger request bodies are refused with 413.
    :param run_limits: caps on runs in flight (None: from ``COPASS_ROUTER_MAX_RUNS`` and
        ``COPASS_ROUTER_MAX_RUNS_PER_KEY``, else the defaults).
    :param connection_limits: connection cap and header/body read timeouts (None: the
        defaults, with ``COPASS_ROUTER_MAX_CONNECTIONS`` as the cap if set).
    :param trusted_proxies: addresses whose ``X-Forwarded-For`` is believed (None: from
        ``COPASS_ROUTER_TRUSTED_PROXIES``, comma-separated; by default nobody's).
    :param workers: processes serving the one socket, each with its own router (see
        server/workers.py); more than one needs ``router`` unset.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        keys = ApiKeys.parse(api_keys) if api_keys is not None else ApiKeys.from_environ(env)
        limits = run_limits or RunLimits.from_environ(env)
        connection_limits = connection_limits or ConnectionLimits.from_environ(env)
        admin_key_from(env, keys, None)  # a bad console key stops here, not in each worker
    except ConfigurationError as exc:
        print(f"copass-router serve: {exc}", file=sys.stderr)
        return 2
    if not keys.enabled and not is_loopback(host):
        print(
            f"copass-router serve: refusing to listen on {host} without API keys; set "
            f"{KEYS_ENV}=<key>[,<key>...] or listen on 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"copass-router serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    if trusted_proxies is None:
        trusted_proxies = [p.strip() for p in env.get(PROXIES_ENV, "").split(",") if p.strip()]
    if not keys.enabled and trusted_proxies:
        print(
            f"copass-router serve: {PROXIES_ENV} needs API keys (a router without keys answers "
            "direct loopback clients only)",
            file=sys.stderr,
        )
        return 2
    options = _Options(
        grace, heartbeat, public_url, max_body_bytes, limits, connection_limits, trusted_proxies
    )

    def run_worker() -> int:
        try:
            with _runner() as runner:
                return runner.run(_serve(sock, keys, env, store, router, options))
        except KeyboardInterrupt:
            return 130

    if workers > 1 and router is None:
        from copass_router.server._workers import supervise

        return supervise(workers, run_worker, env)
    return run_worker()


@attrs.frozen
class _Options:
    grace: float
    heartbeat: float
    public_url: str | None
    max_body_bytes: int
    run_limits: RunLimits
    connection_limits: ConnectionLimits | None
    trusted_proxies: Sequence[str]


def _runner() -> asyncio.Runner:
    """uvloop when installed (the server extra brings it): on the standard asyncio loop a
    reused keep-alive connection waits about 40 ms per request on Linux."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


async def _serve(
    sock: socket.socket,
    keys: ApiKeys,
    env: dict[str, str],
    store: SessionStore | str | None,
    given: Router | None,
    options: _Options,
) -> int:
    router = given or Router(store=store, environ=env)
    base = base_url(sock)
    if router.dispatch_url is None:
        router.dispatch_url = (options.public_url or base).rstrip("/") + DISPATCH_PATH
    app = create_app(
        router,
        api_keys=keys,
        heartbeat=options.heartbeat,
        max_body_bytes=options.max_body_bytes,
        run_limits=options.run_limits,
    )
    state = app.state.copass_router
    console = app.state.copass_console
    if console is not None:  # every worker announces itself and its runs to the console
        console.board.start()
    await prepare(router)  # what first runs would otherwise do on the event loop
    config = uvicorn_config(
        app, limits=options.connection_limits, trusted_proxies=options.trusted_proxies
    )
    server = RouterServer(config, before_shutdown=lambda: state.drain(options.grace))
    _install_signal_handlers(server, lambda: state.drain(0))
    providers = ", ".join(p.name for p in router.providers()) or "none"
    print(f"copass-router serving on {base} (dispatch: {router.dispatch_url})", flush=True)
    # Every installed provider is reachable by every key; say which, so an operator notices
    # one that should not be (COPASS_ROUTER_DISABLE_PLUGINS=echo turns the offline one off).
    print(f"copass-router providers: {providers}", flush=True)
    log.info("serving", providers=providers)
    try:
        await server.serve(sockets=[sock])
    finally:
        if console is not None:
            await console.board.aclose()
        if given is None:
            await router.aclose()
    log.info("stopped")
    return 0


def _install_signal_handlers(
    server: RouterServer, cancel_runs: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def stop(sig: int) -> None:
        if server.should_exit and sig == signal.SIGINT:
            # A second Ctrl-C: cancel the running turns now instead of after the grace period.
            server.force_exit = True
            task = loop.create_task(cancel_runs())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            with contextlib.suppress(ValueError):
                signal.signal(sig, lambda s, _frame: loop.call_soon_threadsafe(stop, s))
