"""Where a dispatch callback goes: verified against the signing keys, then run by the live run
here, or forwarded to the worker whose run it names (see coordination/forwarding.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from copass_router._errors import DispatchAuthError, RouterError
from copass_router._events import ToolResult
from copass_router.coordination import Coordinator, SigningKeys
from copass_router.coordination._forwarding import (
    DispatchCall,
    error_answer,
    read_answer,
    result_answer,
)
from copass_router.run._live_runs import LiveRuns
from copass_router.run._tokens import DispatchClaims, token_key_id, verify_token


class DispatchRoute:
    """A router's end of the dispatch callback.

    :param live: the runs in flight in this process.
    :param coordinator: returns the router's coordinator (opened on first use).
    :param configured: keys from configuration, which win over the coordinator's.
    :param forward_timeout: how long a forwarded call may take before the caller gives up.
    """

    def __init__(
        self,
        live: LiveRuns,
        coordinator: Callable[[], Coordinator],
        configured: SigningKeys | None,
        forward_timeout: float,
    ) -> None:
        self._live = live
        self._coordinator = coordinator
        self._configured = configured
        self._forward_timeout = forward_timeout

    async def _keys(self, refresh: bool = False) -> SigningKeys:
        if self._configured is not None:
            return self._configured
        return await self._coordinator().signing_keys(refresh=refresh)

    async def prepare(self) -> SigningKeys:
        """What a turn needs before it starts: the keys its token is signed with, and (several
        workers) this worker listening for the callbacks others forward to it."""
        keys = await self._keys()
        coordinator = self._coordinator()
        if coordinator.shared:
            await coordinator.listen(self.answer_forwarded)
        return keys

    async def verify(self, token: str) -> DispatchClaims:
        """The token's claims; a key id this worker has not seen makes it read the keys again
        (another worker rotated them)."""
        keys = await self._keys()
        kid = token_key_id(token)
        if kid is not None and kid not in keys.keys and self._configured is None:
            keys = await self._keys(refresh=True)
        return verify_token(keys, token)

    async def handle(self, token: str, call: DispatchCall) -> ToolResult:
        """Run the call here if this worker runs its turn, else forward it to the one that does."""
        claims = await self.verify(token)
        coordinator = self._coordinator()
        if claims.worker is not None and claims.worker != coordinator.worker_id:
            return read_answer(
                await coordinator.forward(claims.worker, call.message(token), self._forward_timeout)
            )
        return await self._live.dispatch(claims, call)

    async def answer_forwarded(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Run a call another worker forwarded here; the answer it sends back."""
        try:
            claims = await self.verify(str(message.get("token")))
            if claims.worker != self._coordinator().worker_id:
                raise DispatchAuthError("the run has ended (its worker is gone)", forbidden=True)
            result = await self._live.dispatch(claims, DispatchCall.from_message(message))
        except RouterError as exc:
            return error_answer(exc)
        return result_answer(result)
