"""The console's pages and actions (see :mod:`.access` for who may use them).

Pages are rendered on the server by Jinja2 with autoescaping on, so every value from a
transcript, an event or the ledger is shown as text. The only script is ``console.js``, which
the live views use: it refreshes the runs list and follows a run's events, building the page
with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from copass_router._errors import RouterError
from copass_router._logs import get_logger
from copass_router.server._hosted_run import follow_frames
from copass_router.server._sse import SSEResponse
from copass_router.server.console.access import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    ConsoleAccess,
    ConsoleSession,
    cross_origin,
    secured,
    set_cookie,
)
from copass_router.server.console.board import WorkerBoard
from copass_router.server.console.budget_view import budget_rows
from copass_router.server.console.charts import GROUPS, METRICS, usage_chart
from copass_router.server.console.health import dependency_checks
from copass_router.server.console.session_search import (
    SessionQuery,
    search_sessions,
    split_end_user,
)
from copass_router.server.console.transcript_view import turn_views

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.console")

MAX_FORM_BYTES = 4096
_EVENT_LINE = re.compile(rb"^event: [^\n]*\n", re.MULTILINE)
_FORMS = jinja2.Environment(
    loader=jinja2.PackageLoader("copass_router.server.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _when(stamp: float) -> str:
    if not stamp:
        return ""
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


_FORMS.filters["when"] = _when

Handler = Callable[[Request, ConsoleSession], Awaitable[Response]]


class Console:
    """The console of one hosted app: its access rules, worker board and pages."""

    def __init__(self, state: HostedState, access: ConsoleAccess, board: WorkerBoard) -> None:
        self.state = state
        self.access = access
        self.board = board

    # -- rendering and access ----------------------------------------------------------------

    def render(
        self, request: Request, name: str, session: ConsoleSession | None, status: int = 200,
        **context: Any,
    ) -> Response:  # fmt: skip
        """The page ``name`` with the console's layout and headers."""
        csrf = self.access.csrf_token(session) if session is not None else ""
        html = _FORMS.get_template(name).render(
            page=name.removesuffix(".html"), csrf=csrf, csrf_field=CSRF_FIELD, **context
        )
        return secured(HTMLResponse(html, status_code=status))

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` for signed-in operators only (others go to the sign-in page)."""

        async def endpoint(request: Request) -> Response:
            self.board.start()
            session = self.access.session(request)
            if session is None:
                if request.method == "GET" and not request.url.path.endswith((".json", "/events")):
                    return secured(RedirectResponse("/console/login", status_code=303))
                return secured(JSONResponse({"error": "sign in to the console"}, 401))
            if request.method == "POST":
                form = await _form(request)
                if form is None:
                    return self._refused(request, session, "the form is too large")
                refusal = self.access.check_action(
                    request, form.get(CSRF_FIELD), self.access.csrf_token(session)
                )
                if refusal is not None:
                    log.warning("console_action_refused", path=request.url.path, reason=refusal)
                    return self._refused(request, session, refusal)
            return await handler(request, session)

        return endpoint

    def _refused(self, request: Request, session: ConsoleSession | None, why: str) -> Response:
        return self.render(request, "refused.html", session, 403, reason=why)

    # -- signing in and out ------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """``GET /console/login``."""
        nonce = secrets.token_urlsafe(18)
        response = self.render(
            request, "login.html", None, token=self.access.login_token(nonce), error=""
        )
        set_cookie(response, request, LOGIN_COOKIE, nonce, 3600)
        return response

    async def login(self, request: Request) -> Response:
        """``POST /console/login``: the admin key for a session cookie."""
        form = await _form(request) or {}
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        refusal = cross_origin(request)
        if refusal is None and (
            not nonce
            or not secrets.compare_digest(form.get("token", ""), self.access.login_token(nonce))
        ):
            refusal = "the sign-in form is stale; reload it and try again"
        if refusal is not None:
            return self._refused(request, None, refusal)
        if not self.access.is_admin_key(form.get("admin_key", "")):
            log.warning("console_login_failed")
            await asyncio.sleep(0.5)  # slows guessing; the key is long enough not to need more
            return self.render(
                request, "login.html", None, 401, token=self.access.login_token(nonce),
                error="that is not the admin key (COPASS_ROUTER_ADMIN_KEY)",
            )  # fmt: skip
        log.info("console_login")
        _, cookie = self.access.new_session()
        response = secured(RedirectResponse("/console/sessions", status_code=303))
        set_cookie(response, request, SESSION_COOKIE, cookie, SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/console")
        return response

    async def logout(self, request: Request, session: ConsoleSession) -> Response:
        """``POST /console/logout``."""
        response = secured(RedirectResponse("/console/login", status_code=303))
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    # -- sessions ----------------------------------------------------------------------------

    async def sessions(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/sessions``: search by tenant, end user, provider and dates."""
        params = request.query_params
        error = ""
        try:
            query = SessionQuery(
                tenant=params.get("tenant", "").strip(),
                end_user=params.get("end_user", "").strip(),
                provider=params.get("provider", "").strip(),
                since=_date(params.get("since")),
                until=_date(params.get("until")),
            )
        except ValueError:
            query, error = SessionQuery(), "dates are written YYYY-MM-DD"
        result = await search_sessions(self.state.router, query, self.state.keys.enabled)
        providers = [p.name for p in self.state.router.providers()]
        return self.render(
            request, "sessions.html", session, query=query, result=result, error=error,
            providers=providers,
        )  # fmt: skip

    async def session_detail(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/sessions/{id}?u=<stored end user>``: the transcript."""
        session_id = request.path_params["session_id"]
        stored = request.query_params.get("u", "")
        try:
            info = await self.state.router.get_session(session_id, stored)
            turns = await self.state.router.store.load_turns(session_id)
        except RouterError:
            return self.render(request, "missing.html", session, 404, what=f"session {session_id}")
        tenant, user = split_end_user(info.end_user_id, self.state.keys.enabled)
        return self.render(
            request, "session.html", session, info=info, tenant=tenant, end_user=user,
            turns=turn_views(turns),
        )  # fmt: skip

    # -- live runs ---------------------------------------------------------------------------

    async def runs(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/runs``: what runs now, on every worker."""
        workers = await self.board.workers()
        runs = sorted(
            (run for w in workers for run in w.runs), key=lambda r: r.started_at, reverse=True
        )
        return self.render(
            request, "runs.html", session, runs=runs, workers=workers, shared=self.board.shared,
            tenants=self.state.keys.enabled, split=split_end_user,
        )  # fmt: skip

    async def runs_json(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/runs.json``: the same list, for the page to refresh itself."""
        tenants = self.state.keys.enabled
        runs = []
        for run in await self.board.runs():
            tenant, user = split_end_user(run.end_user_id, tenants)
            runs.append(
                {
                    "run_id": run.run_id,
                    "session_id": run.session_id,
                    "provider": run.provider,
                    "model": run.model,
                    "tenant": tenant,
                    "end_user": user,
                    "worker_id": run.worker_id,
                    "started_at": _when(run.started_at),
                }
            )
        return secured(JSONResponse({"runs": runs}))

    async def run_detail(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/runs/{id}``: follow one run's events (the page's script does)."""
        run_id = request.path_params["run_id"]
        info = await self.state.hosted.log.info(run_id)
        if info is None:
            return self.render(request, "missing.html", session, 404, what=f"run {run_id}")
        tenant, user = split_end_user(info.owner, self.state.keys.enabled)
        return self.render(
            request, "run.html", session, run_id=run_id, running=info.running,
            expired=info.expired, tenant=tenant, end_user=user, owner=info.owner,
        )  # fmt: skip

    async def run_events(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/runs/{id}/events``: the run's events from its start, then live."""
        run_id = request.path_params["run_id"]
        info = await self.state.hosted.log.info(run_id)
        if info is None or info.expired:
            return secured(JSONResponse({"error": f"no events kept for run {run_id}"}, 404))

        async def on_close(disconnected: bool) -> None:
            return None  # watching never changes the run

        frames = follow_frames(self.state.hosted.log, run_id, -1, self.state.heartbeat)
        return secured(SSEResponse(_unnamed(frames), on_close=on_close))

    async def cancel_run(self, request: Request, session: ConsoleSession) -> Response:
        """``POST /console/runs/{id}/cancel``: cancel it on whichever worker runs it."""
        run_id = request.path_params["run_id"]
        info = await self.state.hosted.log.info(run_id)
        if info is None:
            return self.render(request, "missing.html", session, 404, what=f"run {run_id}")
        if info.running:
            await self.state.hosted.log.request_cancel(run_id)
            log.info("console_run_cancelled", run_id=run_id)
        return secured(RedirectResponse(f"/console/runs/{run_id}", status_code=303))

    # -- usage and health --------------------------------------------------------------------

    async def usage(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/usage``: tokens and cost over time, totals and budgets."""
        params = request.query_params
        today = dt.datetime.now(dt.UTC).date()
        error = ""
        try:
            until = _date(params.get("until")) or today
            since = _date(params.get("since")) or until - dt.timedelta(days=13)
        except ValueError:
            until, since, error = today, today - dt.timedelta(days=13), "dates are YYYY-MM-DD"
        if since > until or (until - since).days > 366:
            since, error = until - dt.timedelta(days=13), "the period is at most a year"
        group = params.get("group", "provider")
        group = group if group in GROUPS else "provider"
        metric = params.get("metric", "cost_usd")
        metric = metric if metric in METRICS else "cost_usd"
        tenant = params.get("tenant", "").strip() or None
        end_user = params.get("end_user", "").strip() or None
        router = self.state.router
        rows = await router.usage(tenant=tenant, end_user_id=end_user, since=since, until=until)
        chart = usage_chart(rows, group, metric, since, until)
        budgets = await budget_rows(router.budgets, router.ledger, rows)
        return self.render(
            request, "usage.html", session, chart=chart, budgets=budgets, since=since,
            until=until, tenant=tenant or "", end_user=end_user or "", groups=GROUPS,
            metrics=METRICS, error=error,
        )  # fmt: skip

    async def health(self, request: Request, session: ConsoleSession) -> Response:
        """``GET /console/health``: workers, dependencies, providers and plugins."""
        router = self.state.router
        checks = await dependency_checks(router, self.state.hosted.log, self.board)
        try:
            workers = await self.board.workers()
        except Exception:
            workers = []
        router.plugins.load()
        return self.render(
            request, "health.html", session, checks=checks, workers=workers,
            shared=self.board.shared, me=self.board.worker_id, providers=router.providers(),
            plugins=router.plugins.infos(), accepting=self.state.runs.accepting,
        )  # fmt: skip


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a POST (first value of each field); None when too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _date(raw: str | None) -> dt.date | None:
    raw = (raw or "").strip()
    return dt.date.fromisoformat(raw) if raw else None


async def _unnamed(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The frames without their ``event:`` line: a browser's ``EventSource`` then hands every
    event to one listener (the JSON's ``type`` still names it)."""
    async for chunk in frames:
        yield _EVENT_LINE.sub(b"", chunk)
