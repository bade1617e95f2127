"""Starting a hosted run: the one path every run endpoint takes (``/v1/runs``, ``/v1/responses``,
AG-UI), so each gets the same keys, slots, recorder, run log and disconnect policy.

An endpoint reads its own request into the keyword fields of ``Router.run`` (``read``) and
follows the run's log afterwards; how it frames what it reads is its own business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from copass_router._errors import InvalidRequestError, RouterError
from copass_router._events import RunStarted
from copass_router._logs import get_logger, scrub
from copass_router._trace_context import trace_headers
from copass_router.server._runs import RunStream
from copass_router.serving._auth import Principal
from copass_router.serving._problems import ShuttingDownError, problem_for

if TYPE_CHECKING:
    from copass_router.server._app import HostedState

log = get_logger("copass_router.server")

#: Reads the request into ``Router.run``'s keyword fields and the disconnect policy.
FieldsReader = Callable[[], Awaitable[tuple[dict[str, Any], str]]]


async def launch_run(
    state: HostedState, request: Request, principal: Principal, read: FieldsReader
) -> RunStarted | Response:
    """Take a run slot, read the request and start its run and recorder: the run's first
    event, or the problem response to send instead. Once started, the run gives its slot back
    when it ends."""
    if not state.runs.accepting:
        return problem_for(ShuttingDownError())
    try:
        state.slots.acquire(principal.key_id)
    except RouterError as exc:
        log.warning("run_refused", reason=exc.code, key_id=principal.key_id)
        return problem_for(exc)
    try:
        outcome = await _start(state, request, principal, read)
    except BaseException:
        state.slots.release(principal.key_id)
        raise
    if isinstance(outcome, Response):
        state.slots.release(principal.key_id)
        return outcome
    request.scope.setdefault("copass.log", {}).update(
        run_id=outcome.run_id, session_id=outcome.session_id, provider=outcome.provider
    )
    return outcome


async def _start(
    state: HostedState, request: Request, principal: Principal, read: FieldsReader
) -> RunStarted | Response:
    stream: RunStream | None = None
    try:
        fields, policy = await read()
        trace = trace_headers(request.headers)  # a malformed traceparent is ignored
        if trace:  # W3C trace context, for event middleware (copass-router-otel) to parent on
            fields["metadata"] = {**fields.get("metadata", {}), **trace}
        stream = RunStream(state.router.run(**fields), state.heartbeat)
        state.runs.add(stream)
        started = await stream.start()
        await state.hosted.begin(
            stream,
            started,
            fields["end_user_id"],
            principal.key_id,
            policy,
            on_end=lambda: state.slots.release(principal.key_id),
        )
        return started
    except BaseException as exc:
        if stream is not None:
            state.runs.discard(stream)
        if not isinstance(exc, RouterError | TypeError):
            raise
        return problem_for(request_error(exc))


def request_error(exc: RouterError | TypeError) -> RouterError:
    """The router error to answer for ``exc`` (a TypeError is a field of the wrong JSON type)."""
    if isinstance(exc, RouterError):
        return exc
    # A field of the wrong JSON type that the request type rejects; its text names internals.
    log.info("run_request_refused", error=scrub(str(exc)))
    return InvalidRequestError("a run request field has the wrong JSON type (see the docs)")
