"""The dispatch callback part of the Router's API: tools run for deployed agents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from copass_router._events import ToolResult
    from copass_router.run._dispatch_route import DispatchRoute
    from copass_router.run._router import Router


class DispatchCallbacks:
    """Mixed into :class:`~copass_router.Router`: the ``copass_dispatch`` callback's side."""

    _route: DispatchRoute
    dispatch_url: str | None

    async def handle_dispatch(
        self,
        token: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        call_id: str,
        round_id: str | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> ToolResult:
        """Run a tool for a deployed agent calling back with its run-scoped token.

        The call goes through the run's own dispatcher and shows up in the run's event stream
        under the real tool name. A repeated ``call_id`` gets the first call's result without
        running the tool again; the same id for another tool or other arguments is refused. Raises
        :class:`DispatchAuthError` for a bad token or a finished run (a tool the token does not
        allow never runs: its result is an error the model sees).

        Calls count against the run's ``max_tool_rounds``: calls with the same ``round_id`` (the
        model response that asked for them) form one round, a call without one is a round of its
        own. A call past the cap is not run: it gets an ``is_error`` result, and the turn ends
        with stop reason ``tool_limit`` (the dispatch endpoint answers ``end_turn: true``).

        ``trace_context``: the W3C trace headers the callback carried (``traceparent``,
        ``tracestate``); only well-formed ones are kept. Event middleware finds them on the
        call's ``ToolCall``/``ToolResult`` under ``provider_data["copass_router"]
        ["trace_context"]``, so a tracer parents the tool's span where the agent says.
        """
        from copass_router._trace_context import trace_headers
        from copass_router.coordination._forwarding import DispatchCall

        call = DispatchCall(
            tool_name, arguments, call_id, round_id, trace_headers(trace_context or {})
        )
        return await self._route.handle(token, call)

    async def verify_dispatch_token(self, token: str) -> None:
        """Check a dispatch token's signature and expiry (cheap: no store, no tool); raises
        :class:`DispatchAuthError`. Lets an endpoint refuse a forged call before reading it."""
        await self._route.verify(token)

    async def start_dispatch_server(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """Serve only the dispatch callback endpoint, in the background, for hosts that do not
        run the full hosted service. Sets :attr:`dispatch_url`; returns the running server
        (``.url``, ``await .aclose()``). Needs the ``server`` extra."""
        from copass_router.serving._dispatch_server import start_dispatch_server

        server = await start_dispatch_server(cast("Router", self), host, port)
        self.dispatch_url = server.url
        return server
