"""Where a dispatch callback goes: verified against the signing keys, then run by the live run
here, or forwarded to the worker whose run it names (see coordination/forwarding.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .coordination import Coordinator, SigningKeys
from .coordination.forwarding import call_message, error_answer, read_answer, result_answer
from .errors import DispatchAuthError, RouterError
from .events import ToolResult
from .live_runs import LiveRuns
from .tokens import DispatchClaims, token_key_id, verify_token

KeySource = Callable[[bool], Awaitable[SigningKeys]]


class DispatchRoute:
    """A router's end of the dispatch callback.

    :param live: the runs in flight in this process.
    :param coordinator: returns the router's coordinator (opened on first use).
    :param keys: returns the signing keys (``True``: read them again, a key id is unknown).
    :param forward_timeout: how long a forwarded call may take before the caller gives up.
    """

    def __init__(
        self,
        live: LiveRuns,
        coordinator: Callable[[], Coordinator],
        keys: KeySource,
        forward_timeout: float,
    ) -> None:
        self._live = live
        self._coordinator = coordinator
        self._keys = keys
        self._forward_timeout = forward_timeout

    async def verify(self, token: str) -> DispatchClaims:
        """The token's claims; a key id this worker has not seen makes it read the keys again
        (another worker rotated them)."""
        keys = await self._keys(False)
        kid = token_key_id(token)
        if kid is not None and kid not in keys.keys:
            keys = await self._keys(True)
        return verify_token(keys, token)

    async def handle(
        self,
        token: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        call_id: str,
        round_id: str | None,
    ) -> ToolResult:
        """Run the call here if this worker runs its turn, else forward it to the one that does."""
        claims = await self.verify(token)
        coordinator = self._coordinator()
        if claims.worker is not None and claims.worker != coordinator.worker_id:
            call = call_message(token, tool_name, arguments, call_id, round_id)
            return read_answer(
                await coordinator.forward(claims.worker, call, self._forward_timeout)
            )
        return await self._live.dispatch(claims, tool_name, arguments, call_id, round_id)

    async def answer_forwarded(self, call: Mapping[str, Any]) -> dict[str, Any]:
        """Run a call another worker forwarded here; the answer it sends back."""
        try:
            claims = await self.verify(str(call.get("token")))
            if claims.worker != self._coordinator().worker_id:
                raise DispatchAuthError("the run has ended (its worker is gone)", forbidden=True)
            result = await self._live.dispatch(
                claims,
                str(call.get("tool_name")),
                call.get("arguments") or {},
                call.get("call_id"),  # type: ignore[arg-type]
                call.get("round"),
            )
        except RouterError as exc:
            return error_answer(exc)
        return result_answer(result)
