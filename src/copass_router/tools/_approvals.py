"""Approvals: tool calls that wait for a yes or no before they run.

A call needs approval when its tool says so (``tool(requires_approval=True)``, an MCP server's
``require_approval``) or the operator's patterns name it (``Router(require_approval=[...])``);
a run request cannot turn an approval off. The dispatcher then emits
:class:`~copass_router.ApprovalRequested` and waits: for the router's ``approval_handler``
(a callback), or for :meth:`Router.approve` / :meth:`Router.deny` (in process, or through the
hosted run's approvals endpoint). No decision within the timeout denies the call. A denied call
is not run; the model gets an error result saying so and the run goes on. The same on every
provider: every tool call goes through the one dispatcher.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from copass_router._errors import ConfigurationError


@attrs.frozen
class ApprovalRequest:
    """A tool call waiting for approval, as a handler sees it."""

    run_id: str
    session_id: str
    end_user_id: str
    provider: str
    call_id: str
    name: str
    arguments: Mapping[str, Any]


@attrs.frozen
class ApprovalDecision:
    """A yes or no for one call; ``reason`` reaches the model when the call is denied."""

    approved: bool
    reason: str = ""


#: Decides a call: True/False, an :class:`ApprovalDecision`, or None to leave it to
#: ``Router.approve``/``deny`` (or the timeout). May be async.
ApprovalHandler = Callable[
    [ApprovalRequest], "bool | ApprovalDecision | Awaitable[bool | ApprovalDecision | None] | None"
]

#: How long a call waits for a decision by default, in seconds (a deployed Google agent's
#: callback waits 300 s for the wait and the tool together).
DEFAULT_TIMEOUT = 120.0
#: The operator's approval patterns (comma-separated), beside those given in code.
REQUIRE_ENV = "COPASS_ROUTER_REQUIRE_APPROVAL"
#: Seconds a call waits for a decision, when the code gives none.
TIMEOUT_ENV = "COPASS_ROUTER_APPROVAL_TIMEOUT"


def _decision(value: object) -> ApprovalDecision | None:
    if value is None or isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, bool):
        return ApprovalDecision(value)
    raise TypeError(f"an approval handler returns a bool or ApprovalDecision, not {value!r:.40}")


class Approvals:
    """The operator's approval policy and the calls waiting for a decision."""

    def __init__(
        self,
        patterns: Sequence[str] = (),
        handler: ApprovalHandler | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(patterns, str):
            patterns = (patterns,)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError("approval_timeout must be a positive number of seconds")
        self.patterns = tuple(patterns)
        self.timeout = float(timeout)
        self._handler = handler
        self._waiting: dict[tuple[str, str], tuple[ApprovalRequest, asyncio.Future[Any]]] = {}

    @classmethod
    def configured(
        cls,
        environ: Mapping[str, str],
        patterns: Sequence[str] = (),
        handler: ApprovalHandler | None = None,
        timeout: float | None = None,
    ) -> Approvals:
        """The operator's policy from code and environment (``copass-router serve`` has only
        the environment): the patterns of both; the code's timeout, else the environment's."""
        from copass_router._settings import env_float

        if isinstance(patterns, str):
            patterns = (patterns,)
        raw = environ.get(REQUIRE_ENV, "")
        from_env = tuple(p.strip() for p in raw.split(",") if p.strip())
        if timeout is None:
            timeout = env_float(environ, TIMEOUT_ENV, DEFAULT_TIMEOUT, minimum=0.001)
        return cls((*patterns, *from_env), handler, timeout)

    @property
    def has_handler(self) -> bool:
        """Whether an approval handler decides calls."""
        return self._handler is not None

    def required(self, name: str, tool_requires: bool) -> bool:
        """Whether a call to ``name`` waits for approval."""
        return tool_requires or any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def open(self, request: ApprovalRequest) -> None:
        """Start waiting for ``request`` (before its event is emitted: a decision may arrive
        as soon as the caller sees it)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[(request.run_id, request.call_id)] = (request, future)

    async def wait(self, request: ApprovalRequest) -> ApprovalDecision:
        """The decision for an opened request: the handler's, a caller's, or a timeout's."""
        key = (request.run_id, request.call_id)
        _, future = self._waiting[key]
        try:
            async with asyncio.timeout(self.timeout):
                if self._handler is not None:
                    verdict = self._handler(request)
                    if inspect.isawaitable(verdict):
                        verdict = await verdict
                    decided = _decision(verdict)
                    if decided is not None:
                        return decided
                decision: ApprovalDecision = await future
                return decision
        except TimeoutError:
            return ApprovalDecision(False, f"no decision within {self.timeout:g} s")
        finally:
            self._waiting.pop(key, None)

    def decide(self, run_id: str, call_id: str, decision: ApprovalDecision) -> bool:
        """Settle a waiting call; False: no such call is waiting (decided, timed out, or its
        run ended)."""
        waiting = self._waiting.get((run_id, call_id))
        if waiting is None or waiting[1].done():
            return False
        waiting[1].set_result(decision)
        return True

    def pending(self, run_id: str) -> list[ApprovalRequest]:
        """The calls of ``run_id`` waiting for a decision (a reconnecting client asks)."""
        return [r for (rid, _), (r, f) in self._waiting.items() if rid == run_id and not f.done()]


class TurnApprovals:
    """A turn's way to ask the router's approvals about a call the provider runs itself (a
    managed runtime's built-in or MCP tool whose permission is "ask"): ``turn.approvals``."""

    def __init__(self, approvals: Approvals, context: Any, emit: Callable[[Any], None]) -> None:
        self._approvals, self._context, self._emit = approvals, context, emit

    def required(self, name: str) -> bool:
        """Whether the operator's policy gates calls to ``name`` (patterns or a handler)."""
        return self._approvals.has_handler or self._approvals.required(name, False)

    def named(self, name: str) -> bool:
        """Whether the operator's approval patterns name ``name``: a provider that runs
        ``name`` itself and cannot pause it refuses the turn rather than run it unasked."""
        return self._approvals.required(name, False)

    async def ask(self, call_id: str, name: str, arguments: Mapping[str, Any]) -> ApprovalDecision:
        """Emit ``ApprovalRequested`` for the call and wait for its decision."""
        from copass_router._events import ApprovalRequested

        context = self._context
        request = ApprovalRequest(
            context.run_id, context.session_id, context.end_user_id, context.provider,
            call_id, name, dict(arguments),
        )  # fmt: skip
        self._approvals.open(request)
        timeout = self._approvals.timeout
        asked = ApprovalRequested(call_id=call_id, name=name, arguments=request.arguments)
        self._emit(attrs.evolve(asked, timeout=timeout))
        return await self._approvals.wait(request)
