"""The operator console: ``/console`` on a hosted router whose operator set an admin key.

Sessions (search, transcripts), live runs of every worker (follow, cancel), usage and cost
charts with budgets, and health. Pages are rendered on the server (Jinja2 templates and the
static files beside this module, shipped in the package); see docs/console.md.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from copass_router.server.console.access import ADMIN_KEY_ENV, admin_key_from
from copass_router.server.console.board import LiveRun, WorkerBoard, board_redis

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from copass_router.server._app import HostedState
    from copass_router.server.console.pages import Console

__all__ = ["ADMIN_KEY_ENV", "add_console", "admin_key_from"]


def _runs_now(state: HostedState, worker_id: str) -> Callable[[], Awaitable[list[LiveRun]]]:
    first_seen: dict[str, float] = {}

    async def runs_now() -> list[LiveRun]:
        runs: list[LiveRun] = []
        for stream in state.runs.streams():
            started = stream.started
            if started is None:
                continue
            info = await state.hosted.log.info(started.run_id)
            if info is None or not info.running:
                continue
            since = first_seen.setdefault(started.run_id, time.time())
            runs.append(
                LiveRun(
                    run_id=started.run_id,
                    session_id=started.session_id,
                    provider=started.provider,
                    model=started.model,
                    end_user_id=info.owner,
                    started_at=since,
                    worker_id=worker_id,
                )
            )
        live = {run.run_id for run in runs}
        for run_id in [r for r in first_seen if r not in live]:
            del first_seen[run_id]
        return runs

    return runs_now


def add_console(app: Starlette, admin_key: str, environ: Mapping[str, str]) -> Console:
    """Serve the console under ``/console`` of ``app`` (a hosted app from ``create_app``)."""
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from copass_router.server.console.access import ConsoleAccess
    from copass_router.server.console.pages import Console

    state: HostedState = app.state.copass_router
    worker_id = state.router.coordinator.worker_id
    url, prefix = board_redis(environ)
    board = WorkerBoard(worker_id, _runs_now(state, worker_id), url, prefix)
    console = Console(state, ConsoleAccess(admin_key), board)
    page = console.page
    routes = [
        Route("/console", _to_sessions, methods=["GET"]),
        Route("/console/login", console.login_form, methods=["GET"]),
        Route("/console/login", console.login, methods=["POST"]),
        Route("/console/logout", page(console.logout), methods=["POST"]),
        Route("/console/sessions", page(console.sessions), methods=["GET"]),
        Route("/console/sessions/{session_id}", page(console.session_detail), methods=["GET"]),
        Route("/console/runs", page(console.runs), methods=["GET"]),
        Route("/console/runs.json", page(console.runs_json), methods=["GET"]),
        Route("/console/runs/{run_id}", page(console.run_detail), methods=["GET"]),
        Route("/console/runs/{run_id}/events", page(console.run_events), methods=["GET"]),
        Route("/console/runs/{run_id}/cancel", page(console.cancel_run), methods=["POST"]),
        Route("/console/usage", page(console.usage), methods=["GET"]),
        Route("/console/health", page(console.health), methods=["GET"]),
        Mount(
            "/console/static",
            StaticFiles(packages=[("copass_router.server.console", "static")]),
        ),
    ]
    app.router.routes.extend(routes)
    # Each worker announces itself (and its runs) from its first request of any kind: the
    # console on another worker lists them even if this one never served a console page.
    app.add_middleware(_AnnounceWorker, board=board)
    app.state.copass_console = console
    return console


class _AnnounceWorker:
    """ASGI middleware: start the worker's board (idempotent) before the request is handled."""

    def __init__(self, app: ASGIApp, board: WorkerBoard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.board.start()
        await self.app(scope, receive, send)


async def _to_sessions(request: Request) -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse("/console/sessions", status_code=303)
